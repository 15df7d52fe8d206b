/*
 * tests/test_keydir.c - the keydir conformance suite.
 *
 * Every registered keydir (test-only broken ones excepted) runs through the
 * same cases by name: `test_keydir NAME` runs one, `test_keydir` runs all.
 * ctest runs one process per keydir listed in CASKLAB_KEYDIRS, and the
 * `registry` suite asserts that list matches the registry, so a new keydir
 * gets conformance for free and cannot be left out of it.
 *
 * The multi-thread cases check final states against what each thread did,
 * never only "did not crash": last-writer-wins by seq, atomic increments via
 * cas, and entry integrity (an entry read is always one some thread wrote
 * whole; a torn read would break the value_pos = f(seq) invariant).
 */
#include "ds/keydir.h"
#include "tests/cutest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *cur_name; /* keydir under test in this process */

static kd_keydir *
open_kd(uint64_t capacity_hint)
{
    kd_options opt = {0};
    kd_keydir *kd = NULL;

    opt.capacity_hint = capacity_hint;
    CU_ASSERT_FATAL(kd_open(cur_name, &opt, &kd) == KD_OK);
    CU_ASSERT_FATAL(kd != NULL);
    return kd;
}

static kd_entry
mk_entry(uint32_t file_id, uint64_t seq)
{
    kd_entry e = {file_id, (uint32_t)(seq % 1000u) + 1, seq * 7 + file_id,
                  seq};
    return e;
}

/* An entry as mk_entry makes it: what the integrity checks look for. */
static int
entry_whole(const kd_entry *e)
{
    return e->value_pos == e->seq * 7 + e->file_id &&
           e->value_size == (uint32_t)(e->seq % 1000u) + 1;
}

/* 8-byte binary keys from an index (contain zero bytes on purpose). */
static void
mk_key(uint64_t i, unsigned char out[8])
{
    memcpy(out, &i, 8);
}

static void
test_basic_ops(void)
{
    kd_keydir *kd = open_kd(0);
    kd_entry e1 = mk_entry(1, 10), e2 = mk_entry(2, 20), got, old;
    const char *k = "hello";

    kd_thread_register(kd);
    CU_ASSERT_STRING_EQUAL(kd_name(kd), cur_name);
    CU_ASSERT_EQUAL(kd_get(kd, k, 5, &got), KD_ENOTFOUND);
    CU_ASSERT_EQUAL(kd_count(kd), 0);
    CU_ASSERT_EQUAL(kd_put(kd, k, 5, &e1, &old), KD_INSERTED);
    CU_ASSERT_EQUAL(kd_count(kd), 1);
    CU_ASSERT_EQUAL(kd_get(kd, k, 5, &got), KD_OK);
    CU_ASSERT(kd_entry_eq(&got, &e1));
    CU_ASSERT_EQUAL(kd_get(kd, k, 4, &got), KD_ENOTFOUND); /* prefix */
    CU_ASSERT_EQUAL(kd_put(kd, k, 5, &e2, &old), KD_REPLACED);
    CU_ASSERT(kd_entry_eq(&old, &e1));
    CU_ASSERT_EQUAL(kd_put(kd, k, 5, &e1, NULL), KD_REPLACED);
    CU_ASSERT_EQUAL(kd_count(kd), 1);
    CU_ASSERT_EQUAL(kd_del(kd, k, 5, &old), KD_OK);
    CU_ASSERT(kd_entry_eq(&old, &e1));
    CU_ASSERT_EQUAL(kd_get(kd, k, 5, &got), KD_ENOTFOUND);
    CU_ASSERT_EQUAL(kd_del(kd, k, 5, NULL), KD_ENOTFOUND);
    CU_ASSERT_EQUAL(kd_count(kd), 0);
    CU_ASSERT(kd_memory(kd) > 0);
    kd_quiescent(kd);
    kd_thread_unregister(kd);
    kd_close(kd);
}

static void
test_put_if_newer(void)
{
    kd_keydir *kd = open_kd(0);
    kd_entry e5 = mk_entry(1, 5), e9 = mk_entry(2, 9), e7 = mk_entry(3, 7);
    kd_entry got, old;

    kd_thread_register(kd);
    CU_ASSERT_EQUAL(kd_put_if_newer(kd, "k", 1, &e5, &old), KD_INSERTED);
    CU_ASSERT_EQUAL(kd_put_if_newer(kd, "k", 1, &e9, &old), KD_REPLACED);
    CU_ASSERT(kd_entry_eq(&old, &e5));
    /* Older and equal seqs lose and report what is stored. */
    CU_ASSERT_EQUAL(kd_put_if_newer(kd, "k", 1, &e7, &old), KD_ESTALE);
    CU_ASSERT(kd_entry_eq(&old, &e9));
    CU_ASSERT_EQUAL(kd_put_if_newer(kd, "k", 1, &e9, &old), KD_ESTALE);
    CU_ASSERT_EQUAL(kd_get(kd, "k", 1, &got), KD_OK);
    CU_ASSERT(kd_entry_eq(&got, &e9));
    CU_ASSERT_EQUAL(kd_count(kd), 1);
    kd_thread_unregister(kd);
    kd_close(kd);
}

static void
test_cas_and_del_if(void)
{
    kd_keydir *kd = open_kd(0);
    kd_entry a = mk_entry(1, 1), b = mk_entry(1, 2), c = mk_entry(1, 3);
    kd_entry got, near_a = a;

    kd_thread_register(kd);
    near_a.value_size++; /* differs from a in one field only */
    CU_ASSERT_EQUAL(kd_cas(kd, "x", 1, &a, &b), KD_ENOTFOUND);
    CU_ASSERT_EQUAL(kd_cas(kd, "x", 1, NULL, &a), KD_OK);
    CU_ASSERT_EQUAL(kd_cas(kd, "x", 1, NULL, &b), KD_EEXIST);
    CU_ASSERT_EQUAL(kd_cas(kd, "x", 1, &near_a, &b), KD_ECHANGED);
    CU_ASSERT_EQUAL(kd_cas(kd, "x", 1, &b, &c), KD_ECHANGED);
    CU_ASSERT_EQUAL(kd_get(kd, "x", 1, &got), KD_OK);
    CU_ASSERT(kd_entry_eq(&got, &a));
    CU_ASSERT_EQUAL(kd_cas(kd, "x", 1, &a, &b), KD_OK);
    CU_ASSERT_EQUAL(kd_get(kd, "x", 1, &got), KD_OK);
    CU_ASSERT(kd_entry_eq(&got, &b));
    CU_ASSERT_EQUAL(kd_del_if(kd, "x", 1, &a), KD_ECHANGED);
    CU_ASSERT_EQUAL(kd_count(kd), 1);
    CU_ASSERT_EQUAL(kd_del_if(kd, "x", 1, &b), KD_OK);
    CU_ASSERT_EQUAL(kd_del_if(kd, "x", 1, &b), KD_ENOTFOUND);
    CU_ASSERT_EQUAL(kd_get(kd, "x", 1, &got), KD_ENOTFOUND);
    CU_ASSERT_EQUAL(kd_count(kd), 0);
    kd_thread_unregister(kd);
    kd_close(kd);
}

static void
test_key_limits(void)
{
    kd_keydir *kd = open_kd(0);
    kd_entry e = mk_entry(1, 1), got;
    unsigned char *big = malloc(KD_KEY_MAX + 1);

    CU_ASSERT_FATAL(big != NULL);
    kd_thread_register(kd);
    for (size_t i = 0; i <= KD_KEY_MAX; i++)
        big[i] = (unsigned char)(i * 31u);
    CU_ASSERT_EQUAL(kd_put(kd, big, 0, &e, NULL), KD_EINVAL);
    CU_ASSERT_EQUAL(kd_get(kd, big, 0, &got), KD_EINVAL);
    CU_ASSERT_EQUAL(kd_put(kd, big, KD_KEY_MAX + 1, &e, NULL), KD_EINVAL);
    CU_ASSERT_EQUAL(kd_put(kd, big, KD_KEY_MAX, &e, NULL), KD_INSERTED);
    CU_ASSERT_EQUAL(kd_get(kd, big, KD_KEY_MAX, &got), KD_OK);
    CU_ASSERT(kd_entry_eq(&got, &e));
    big[KD_KEY_MAX - 1] ^= 1; /* same length, last byte differs */
    CU_ASSERT_EQUAL(kd_get(kd, big, KD_KEY_MAX, &got), KD_ENOTFOUND);
    CU_ASSERT(kd_memory(kd) >= KD_KEY_MAX);
    kd_thread_unregister(kd);
    kd_close(kd);
    free(big);
}

static void
test_binary_keys(void)
{
    kd_keydir *kd = open_kd(0);
    kd_entry got;
    static const char k1[] = {'a', '\0', 'b'}, k2[] = {'a', '\0', 'c'};
    static const char k3[] = {'a'}, k4[] = {'\0'}, k5[] = {'\0', '\0'};
    const char *keys[] = {k1, k2, k3, k4, k5};
    size_t lens[] = {3, 3, 1, 1, 2};

    kd_thread_register(kd);
    for (uint32_t i = 0; i < 5; i++) {
        kd_entry e = mk_entry(i, i + 1);
        CU_ASSERT_EQUAL(kd_put(kd, keys[i], lens[i], &e, NULL), KD_INSERTED);
    }
    CU_ASSERT_EQUAL(kd_count(kd), 5);
    for (uint32_t i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(kd_get(kd, keys[i], lens[i], &got), KD_OK);
        CU_ASSERT_EQUAL(got.file_id, i);
    }
    kd_thread_unregister(kd);
    kd_close(kd);
}

/* Grows from the smallest start through many resizes, then shrinks. */
static void
test_resize_under_load(void)
{
    enum { N = 200000 };
    kd_keydir *kd = open_kd(0);
    unsigned char k[8];
    kd_entry got;
    uint64_t mem_small = kd_memory(kd), bad = 0;

    kd_thread_register(kd);
    for (uint64_t i = 0; i < N; i++) {
        kd_entry e = mk_entry((uint32_t)(i & 0xff), i + 1);
        mk_key(i, k);
        if (kd_put(kd, k, 8, &e, NULL) != KD_INSERTED)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(kd_count(kd), N);
    CU_ASSERT(kd_memory(kd) > mem_small + N * 8);
    for (uint64_t i = 0; i < N; i++) {
        mk_key(i, k);
        if (kd_get(kd, k, 8, &got) != KD_OK || got.seq != i + 1 ||
            !entry_whole(&got))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    for (uint64_t i = 0; i < N; i += 2) {
        mk_key(i, k);
        if (kd_del(kd, k, 8, NULL) != KD_OK)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(kd_count(kd), N / 2);
    for (uint64_t i = 0; i < N; i++) {
        mk_key(i, k);
        if (kd_get(kd, k, 8, &got) != (i % 2 ? KD_OK : KD_ENOTFOUND))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    kd_thread_unregister(kd);
    kd_close(kd);
}

struct iter_state {
    unsigned char *seen;
    uint64_t n, visits, bad, stop_after;
};

static int
iter_visit(const void *key, size_t klen, const kd_entry *e, void *arg)
{
    struct iter_state *st = arg;
    uint64_t i;

    if (klen != 8) {
        st->bad++;
        return 0;
    }
    memcpy(&i, key, 8);
    if (i >= st->n || e->seq != i + 1 || !entry_whole(e))
        st->bad++;
    else
        st->seen[i]++;
    st->visits++;
    return st->stop_after != 0 && st->visits == st->stop_after ? 42 : 0;
}

static void
test_iterate(void)
{
    enum { N = 50000 };
    kd_keydir *kd = open_kd(0);
    struct iter_state st = {calloc(N, 1), N, 0, 0, 0};
    unsigned char k[8];
    uint64_t once = 0, never_deleted = 0;

    CU_ASSERT_FATAL(st.seen != NULL);
    kd_thread_register(kd);
    for (uint64_t i = 0; i < N; i++) {
        kd_entry e = mk_entry(1, i + 1);
        mk_key(i, k);
        kd_put(kd, k, 8, &e, NULL);
    }
    for (uint64_t i = 0; i < N; i += 3) {
        mk_key(i, k);
        kd_del(kd, k, 8, NULL);
    }
    CU_ASSERT_EQUAL(kd_iterate(kd, iter_visit, &st), 0);
    CU_ASSERT_EQUAL(st.bad, 0);
    for (uint64_t i = 0; i < N; i++) {
        if (i % 3 == 0)
            never_deleted += st.seen[i] != 0;
        else
            once += st.seen[i] == 1;
    }
    CU_ASSERT_EQUAL(never_deleted, 0);
    CU_ASSERT_EQUAL(once, N - (N + 2) / 3);
    CU_ASSERT_EQUAL(st.visits, kd_count(kd));
    /* Early stop: the visitor's value comes back and the walk ends. */
    st.visits = 0;
    st.stop_after = 10;
    CU_ASSERT_EQUAL(kd_iterate(kd, iter_visit, &st), 42);
    CU_ASSERT_EQUAL(st.visits, 10);
    kd_thread_unregister(kd);
    kd_close(kd);
    free(st.seen);
}

/* ---- Multi-thread cases ------------------------------------------------ */

enum { MT_THREADS = 4, MT_KEYS = 4096, MT_ROUNDS = 6 };

struct mt_shared {
    kd_keydir *kd;
    _Atomic uint64_t next_seq;
    _Atomic uint64_t torn; /* reads that saw a half-written entry */
    uint64_t max_seq[MT_THREADS][MT_KEYS]; /* per thread, per key */
};

struct mt_arg {
    struct mt_shared *sh;
    uint32_t id;
};

/*
 * Thread i writes keys [i*K/T/2, i*K/T/2 + K/2): each key is shared by two
 * or three threads. Writes use put_if_newer with globally unique seqs, and
 * each thread also reads the keys it writes and checks integrity.
 */
static void *
mt_lww_thread(void *p)
{
    struct mt_arg *a = p;
    struct mt_shared *sh = a->sh;
    uint64_t lo = (uint64_t)a->id * MT_KEYS / MT_THREADS / 2;
    unsigned char k[8];

    kd_thread_register(sh->kd);
    for (int r = 0; r < MT_ROUNDS; r++) {
        for (uint64_t i = lo; i < lo + MT_KEYS / 2; i++) {
            uint64_t seq = atomic_fetch_add(&sh->next_seq, 1) + 1;
            kd_entry e = mk_entry(a->id, seq), got;
            mk_key(i, k);
            kd_put_if_newer(sh->kd, k, 8, &e, NULL);
            sh->max_seq[a->id][i] = seq;
            if (kd_get(sh->kd, k, 8, &got) != KD_OK || !entry_whole(&got) ||
                got.seq < seq)
                atomic_fetch_add(&sh->torn, 1);
        }
        kd_quiescent(sh->kd);
    }
    kd_thread_unregister(sh->kd);
    return NULL;
}

static void
mt_run(void *(*fn)(void *), struct mt_shared *sh)
{
    pthread_t th[MT_THREADS];
    struct mt_arg args[MT_THREADS];

    for (uint32_t i = 0; i < MT_THREADS; i++) {
        args[i] = (struct mt_arg){sh, i};
        CU_ASSERT_FATAL(pthread_create(&th[i], NULL, fn, &args[i]) == 0);
    }
    for (uint32_t i = 0; i < MT_THREADS; i++)
        pthread_join(th[i], NULL);
}

static void
test_mt_last_writer_wins(void)
{
    struct mt_shared *sh = calloc(1, sizeof(*sh));
    unsigned char k[8];
    uint64_t wrong = 0, present = 0;

    CU_ASSERT_FATAL(sh != NULL);
    sh->kd = open_kd(0);
    mt_run(mt_lww_thread, sh);
    CU_ASSERT_EQUAL(atomic_load(&sh->torn), 0);
    kd_thread_register(sh->kd);
    for (uint64_t i = 0; i < MT_KEYS; i++) {
        uint64_t want = 0;
        kd_entry got;
        for (int t = 0; t < MT_THREADS; t++)
            if (sh->max_seq[t][i] > want)
                want = sh->max_seq[t][i];
        mk_key(i, k);
        int rc = kd_get(sh->kd, k, 8, &got);
        if (want == 0) {
            wrong += rc != KD_ENOTFOUND;
            continue;
        }
        present++;
        if (rc != KD_OK || got.seq != want || !entry_whole(&got))
            wrong++;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(kd_count(sh->kd), present);
    kd_thread_unregister(sh->kd);
    kd_close(sh->kd);
    free(sh);
}

enum { CAS_KEYS = 8, CAS_INCS = 3000 };

/* Each thread adds 1 to a key's counter (in value_pos) CAS_INCS times,
 * cycling over the keys; a lost update shows as a short final total. */
static void *
mt_cas_thread(void *p)
{
    struct mt_arg *a = p;
    kd_keydir *kd = a->sh->kd;
    unsigned char k[8];

    kd_thread_register(kd);
    for (int n = 0; n < CAS_INCS; n++) {
        kd_entry cur, next;
        mk_key((uint64_t)(n + (int)a->id) % CAS_KEYS, k);
        do {
            if (kd_get(kd, k, 8, &cur) != KD_OK) {
                atomic_fetch_add(&a->sh->torn, 1);
                break;
            }
            next = cur;
            next.value_pos++;
            next.seq++;
        } while (kd_cas(kd, k, 8, &cur, &next) != KD_OK);
        kd_quiescent(kd);
    }
    kd_thread_unregister(kd);
    return NULL;
}

static void
test_mt_cas_increments(void)
{
    struct mt_shared *sh = calloc(1, sizeof(*sh));
    unsigned char k[8];
    uint64_t total = 0;

    CU_ASSERT_FATAL(sh != NULL);
    sh->kd = open_kd(0);
    kd_thread_register(sh->kd);
    for (uint64_t i = 0; i < CAS_KEYS; i++) {
        kd_entry zero = {0, 0, 0, 0};
        mk_key(i, k);
        CU_ASSERT_EQUAL(kd_cas(sh->kd, k, 8, NULL, &zero), KD_OK);
    }
    mt_run(mt_cas_thread, sh);
    CU_ASSERT_EQUAL(atomic_load(&sh->torn), 0);
    for (uint64_t i = 0; i < CAS_KEYS; i++) {
        kd_entry got;
        mk_key(i, k);
        CU_ASSERT_EQUAL(kd_get(sh->kd, k, 8, &got), KD_OK);
        CU_ASSERT_EQUAL(got.value_pos, got.seq);
        total += got.value_pos;
    }
    CU_ASSERT_EQUAL(total, (uint64_t)MT_THREADS * CAS_INCS);
    kd_thread_unregister(sh->kd);
    kd_close(sh->kd);
    free(sh);
}

enum { CHURN_PER_THREAD = 2000, CHURN_ROUNDS = 5 };

/* Each thread inserts and deletes its own keys (key % T == id) while
 * reading everyone's, so resizes and deletes race with lookups; the final
 * state is known exactly: keys with an odd index survive. */
static void *
mt_churn_thread(void *p)
{
    struct mt_arg *a = p;
    kd_keydir *kd = a->sh->kd;
    unsigned char k[8];

    kd_thread_register(kd);
    for (int r = 0; r < CHURN_ROUNDS; r++) {
        for (uint64_t j = 0; j < CHURN_PER_THREAD; j++) {
            uint64_t i = j * MT_THREADS + a->id;
            kd_entry e = mk_entry(a->id, i + 1), got;
            mk_key(i, k);
            kd_put(kd, k, 8, &e, NULL);
            mk_key((i * 2654435761u) % (CHURN_PER_THREAD * MT_THREADS), k);
            if (kd_get(kd, k, 8, &got) == KD_OK && !entry_whole(&got))
                atomic_fetch_add(&a->sh->torn, 1);
        }
        for (uint64_t j = 0; j < CHURN_PER_THREAD; j++) {
            uint64_t i = j * MT_THREADS + a->id;
            if (r == CHURN_ROUNDS - 1 && i % 2)
                continue;
            mk_key(i, k);
            if (kd_del(kd, k, 8, NULL) != KD_OK)
                atomic_fetch_add(&a->sh->torn, 1);
        }
        kd_quiescent(kd);
    }
    kd_thread_unregister(kd);
    return NULL;
}

static void
test_mt_churn(void)
{
    struct mt_shared *sh = calloc(1, sizeof(*sh));
    unsigned char k[8];
    uint64_t wrong = 0;

    CU_ASSERT_FATAL(sh != NULL);
    sh->kd = open_kd(0);
    mt_run(mt_churn_thread, sh);
    CU_ASSERT_EQUAL(atomic_load(&sh->torn), 0);
    kd_thread_register(sh->kd);
    for (uint64_t i = 0; i < CHURN_PER_THREAD * MT_THREADS; i++) {
        kd_entry got;
        mk_key(i, k);
        int rc = kd_get(sh->kd, k, 8, &got);
        if (i % 2 ? rc != KD_OK || got.seq != i + 1 : rc != KD_ENOTFOUND)
            wrong++;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(kd_count(sh->kd), CHURN_PER_THREAD * MT_THREADS / 2);
    kd_thread_unregister(sh->kd);
    kd_close(sh->kd);
    free(sh);
}

static const ct_case conformance[] = {
    CT_CASE(test_basic_ops),
    CT_CASE(test_put_if_newer),
    CT_CASE(test_cas_and_del_if),
    CT_CASE(test_key_limits),
    CT_CASE(test_binary_keys),
    CT_CASE(test_resize_under_load),
    CT_CASE(test_iterate),
    CT_CASE(test_mt_last_writer_wins),
    CT_CASE(test_mt_cas_increments),
    CT_CASE(test_mt_churn),
};

/* ---- Registry suite --------------------------------------------------- */

#ifndef CASKLAB_KEYDIRS
#error "CASKLAB_KEYDIRS (the conformance list) must come from CMake"
#endif

static int
in_cmake_list(const char *name)
{
    char list[] = CASKLAB_KEYDIRS;

    for (char *t = strtok(list, ";"); t != NULL; t = strtok(NULL, ";"))
        if (strcmp(t, name) == 0)
            return 1;
    return 0;
}

static void
test_registry_matches_ctest_list(void)
{
    size_t n = 0, missing = 0;

    for (const kd_ops *ops; (ops = kd_registered(n)) != NULL; n++) {
        CU_ASSERT_PTR_EQUAL(kd_lookup(ops->name), ops);
        CU_ASSERT_PTR_NOT_NULL(ops->summary);
        if (!(ops->flags & KD_FLAG_TEST_ONLY) && !in_cmake_list(ops->name))
            missing++;
    }
    CU_ASSERT(n >= 3);
    CU_ASSERT_EQUAL(missing, 0);
}

static void
test_registry_unknown_name(void)
{
    kd_keydir *kd = NULL;

    CU_ASSERT_EQUAL(kd_open("no-such-keydir", NULL, &kd), KD_ENOKEYDIR);
    CU_ASSERT_PTR_NULL(kd);
    CU_ASSERT_PTR_NULL(kd_lookup("no-such-keydir"));
    CU_ASSERT_STRING_EQUAL(kd_strerror(KD_ENOKEYDIR),
                           "no keydir registered under that name");
    CU_ASSERT_STRING_EQUAL(kd_strerror(12345), "unknown keydir error");
}

static void
test_hash_seeded(void)
{
    CU_ASSERT_EQUAL(kd_hash("abc", 3, 1), kd_hash("abc", 3, 1));
    CU_ASSERT_NOT_EQUAL(kd_hash("abc", 3, 1), kd_hash("abc", 3, 2));
    CU_ASSERT_NOT_EQUAL(kd_hash("abc", 3, 1), kd_hash("abd", 3, 1));
}

static const ct_case registry_cases[] = {
    CT_CASE(test_registry_matches_ctest_list),
    CT_CASE(test_registry_unknown_name),
    CT_CASE(test_hash_seeded),
};

static unsigned
run_conformance(const char *name)
{
    char suite[128];

    cur_name = name;
    snprintf(suite, sizeof(suite), "keydir conformance: %s", name);
    return ct_run(suite, conformance, CT_NCASES(conformance));
}

int
main(int argc, char **argv)
{
    unsigned failed = 0;

    if (argc > 1 && strcmp(argv[1], "registry") == 0)
        return ct_run("keydir registry", registry_cases,
                      CT_NCASES(registry_cases)) != 0;
    if (argc > 1) {
        if (kd_lookup(argv[1]) == NULL) {
            fprintf(stderr, "test_keydir: no keydir named '%s'\n", argv[1]);
            return 2;
        }
        return run_conformance(argv[1]) != 0;
    }
    for (size_t i = 0; kd_registered(i) != NULL; i++)
        if (!(kd_registered(i)->flags & KD_FLAG_TEST_ONLY))
            failed += run_conformance(kd_registered(i)->name);
    return failed != 0;
}
