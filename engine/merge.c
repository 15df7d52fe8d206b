/*
 * engine/merge.c - merge while serving, and the policy choosing its inputs.
 *
 * A merge copies the records of immutable input files that the keydir
 * still points to into new output files (byte for byte: a record does not
 * depend on where it lies), makes each output and its hint file durable,
 * then installs the new locations with kd_cas, so a key overwritten during
 * the merge keeps its newer entry. Commit is a manifest naming the inputs,
 * written once every output is durable and every superseding write is
 * synced; then the inputs leave the file table and are unlinked (pinned
 * readers keep their descriptors), and the manifest goes. A crash before
 * the manifest leaves inputs and outputs side by side (duplicates with equal
 * seqs, harmless); after it, recovery finishes the deletion. DESIGN.md has
 * the tombstone rules.
 *
 * Policy (CASK_MERGE_AUTO): Basho's triggers - some file over
 * frag_trigger_pct dead or dead_bytes_trigger dead bytes starts a merge of
 * every file over the (lower) thresholds - plus size tiers: files grouped
 * by size into tiers growing 4x from tier_base; a tier holding
 * tier_min_files files is merged.
 */
#include "engine/cask_internal.h"
#include "sync/atomic.h"
#include "sync/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* One relocation to install: the key's entry before and after. */
typedef struct mg_move {
    kd_entry from, to;
    uint32_t klen;
    int del;          /* expired: remove instead of relocating */
    size_t key_off;   /* into mg.keys */
} mg_move;

typedef struct mg {
    cask *c;
    int full;          /* inputs are every immutable file */
    uint64_t now_ms;
    cask_file *out;    /* current output, in the table, pinned */
    cask_buf hint;
    uint64_t hint_n;
    mg_move *mv;
    size_t nmv, capmv;
    cask_buf keys;
    uint32_t first_out;
} mg;

/* ---- policy -------------------------------------------------------------------- */

static unsigned
mg_tier(const cask *c, uint64_t size)
{
    unsigned t = 0;

    for (uint64_t lim = c->opt.tier_base; size >= lim && t < 31; lim *= 4)
        t++;
    return t;
}

static int
mg_over(uint64_t size, uint64_t dead, uint32_t pct, uint64_t bytes)
{
    return dead * 100 >= (uint64_t)pct * size || dead >= bytes;
}

/* Chooses inputs among cand (immutable files); returns how many, moved to
 * the front of cand. */
static size_t
mg_policy(const cask *c, cask_file **cand, size_t n)
{
    unsigned tier_count[32] = {0};
    int trig = 0;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        uint64_t size = sync_load_rlx(&cand[i]->size);
        int64_t live = sync_load_rlx(&cand[i]->live);
        uint64_t dead = size - (live > 0 ? (uint64_t)live : 0);
        trig |= mg_over(size, dead, c->opt.frag_trigger_pct,
                        c->opt.dead_bytes_trigger);
        tier_count[mg_tier(c, size)]++;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t size = sync_load_rlx(&cand[i]->size);
        int64_t live = sync_load_rlx(&cand[i]->live);
        uint64_t dead = size - (live > 0 ? (uint64_t)live : 0);
        int pick = (trig && mg_over(size, dead, c->opt.frag_threshold_pct,
                                    c->opt.dead_bytes_threshold)) ||
                   tier_count[mg_tier(c, size)] >= c->opt.tier_min_files;
        if (pick) {
            cask_file *t = cand[k];
            cand[k++] = cand[i];
            cand[i] = t;
        }
    }
    return k;
}

/* Pins every immutable file with no pending keydir update, ascending by
 * id. log_mu is held across the table scan: rotation adds the next active
 * file to the table before it switches c->active under log_mu, so reading
 * the active id first and the table later could take the new active file
 * for an immutable one - and a merge that retired it would unlink the file
 * writers append to. A file rotated out while its last writers still wait
 * for their keydir update is left for a later merge: nothing can append to
 * it any more, so its pending count only falls. */
static int
mg_candidates(cask *c, cask_file ***out, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&c->log_mu);
    uint32_t active = c->active->id;
    pthread_rwlock_rdlock(&c->tab_lock);
    cask_ftab *t = cask_tab_now(c);
    *out = calloc(t->cap ? t->cap : 1, sizeof **out);
    for (uint32_t i = 0; *out != NULL && i < t->cap; i++) {
        cask_file *f = cask_tab_at(t, i);
        if (f != NULL && i != active && !sync_load_acq(&f->uncached) &&
            sync_load_acq(&f->pending) == 0) {
            (*out)[(*n)++] = f;
            cask_file_pin(f);
        }
    }
    pthread_rwlock_unlock(&c->tab_lock);
    pthread_mutex_unlock(&c->log_mu);
    return *out == NULL ? cask_fail(CASK_ENOMEM, "merge: out of memory") : 0;
}

/* ---- outputs and installation ------------------------------------------------------ */

static int
mg_install(mg *m)
{
    cask *c = m->c;

    pthread_mutex_lock(&c->inst_mu);
    for (size_t i = 0; i < m->nmv; i++) {
        const mg_move *v = &m->mv[i];
        const uint8_t *key = m->keys.p + v->key_off;
        if (v->del) {
            kd_del_if(c->kd, key, v->klen, &v->from);
        } else if (kd_cas(c->kd, key, v->klen, &v->from, &v->to) == KD_OK) {
            sync_faa_rlx(&m->out->live,
                         (int64_t)cask_rec_size(v->klen, v->to.value_size));
        }
    }
    pthread_mutex_unlock(&c->inst_mu);
    kd_quiescent(c->kd);
    m->nmv = 0;
    m->keys.len = 0;
    return 0;
}

static int
mg_write_hint(mg *m)
{
    int rc = cask_hint_write(m->c, m->out->id, &m->hint, m->hint_n,
                             sync_load_rlx(&m->out->size));

    sync_store_rlx(&m->out->has_hint, rc == 0);
    m->hint.len = 0;
    m->hint_n = 0;
    return rc;
}

/* Makes the current output durable, installs its moves, lets it go. */
static int
mg_finish_out(mg *m)
{
    cask *c = m->c;
    int rc;

    if (m->out == NULL)
        return 0;
    rc = mg_write_hint(m);
    if (rc == 0 &&
        (fdatasync(cask_file_fd(m->out)) != 0 || fsync(c->dirfd) != 0))
        rc = cask_fail(CASK_EIO, "%s/%010u.data: sync: %s", c->dir,
                       m->out->id, strerror(errno));
    if (rc == 0) {
        cask_file_map_ro(m->out); /* before gets can find it */
        rc = mg_install(m);
    }
    sync_store_rel(&m->out->uncached, 0);
    cask_file_unpin(m->out);
    m->out = NULL;
    cask_fd_trim(c);
    return rc;
}

static int
mg_room(mg *m, uint64_t n)
{
    cask *c = m->c;
    int rc;

    if (m->out != NULL &&
        sync_load_rlx(&m->out->size) + n > c->opt.max_file_size &&
        (rc = mg_finish_out(m)) != 0)
        return rc;
    if (m->out != NULL)
        return 0;
    rc = cask_create_file(c, sync_faa_rlx(&c->next_id, 1), 0, &m->out);
    if (rc == 0 && (rc = cask_tab_add(c, m->out)) != 0) {
        cask_file_unpin(m->out);
        m->out = NULL;
        return rc;
    }
    if (rc == 0) {
        cask_file_pin(m->out); /* ours, besides the table's */
        if (m->first_out == 0)
            m->first_out = m->out->id;
    }
    return rc;
}

static int
mg_add_move(mg *m, const void *key, uint32_t klen, const kd_entry *from,
            const kd_entry *to, int del)
{
    mg_move *nv = cask_grow(m->mv, m->nmv, &m->capmv, sizeof *nv, 1024);
    if (nv == NULL)
        return cask_fail(CASK_ENOMEM, "merge: out of memory");
    m->mv = nv;
    mg_move *v = &m->mv[m->nmv];
    v->from = *from;
    if (to != NULL)
        v->to = *to;
    v->klen = klen;
    v->del = del;
    v->key_off = m->keys.len;
    if (cask_buf_put(&m->keys, key, klen) != 0)
        return cask_fail(CASK_ENOMEM, "merge: out of memory");
    m->nmv++;
    return 0;
}

/* Appends bytes (one whole record) to the output; returns its offset. */
static int
mg_copy(mg *m, const uint8_t *rec, uint64_t n, const cask_rec *r,
        uint64_t *pos)
{
    cask_hint h;
    int rc = mg_room(m, n);

    if (rc != 0)
        return rc;
    *pos = sync_load_rlx(&m->out->size);
    if (cask_write_full(cask_file_fd(m->out), rec, n, *pos) != 0)
        return cask_fail(CASK_EIO, "%s/%010u.data offset %llu: write: %s",
                         m->c->dir, m->out->id, (unsigned long long)*pos,
                         strerror(errno));
    sync_store_rlx(&m->out->size, *pos + n);
    h.seq = r->seq;
    h.pos = *pos;
    h.expiry_ms = r->expiry_ms;
    h.klen = r->klen;
    h.vlen = r->vlen;
    h.flags = r->flags;
    h.key = r->key;
    m->hint_n++;
    return cask_hint_append(&m->hint, &h) == 0
               ? 0
               : cask_fail(CASK_ENOMEM, "merge: out of memory");
}

/* ---- per-record decisions ------------------------------------------------------------ */

/*
 * A tombstone is kept unless the merge covers every immutable file (then no
 * older value of its key survives anywhere) or a newer record of the key
 * exists (which outranks every older value by itself, and is durable by
 * the time the merge commits).
 */
static int
mg_tomb(mg *m, const uint8_t *rec, uint64_t n, const cask_rec *r)
{
    kd_entry e;
    uint64_t pos;

    if (m->full)
        return 0;
    if (kd_get(m->c->kd, r->key, r->klen, &e) == KD_OK && e.seq > r->seq)
        return 0;
    return mg_copy(m, rec, n, r, &pos);
}

/* An expired live value: dropped when the merge is full; otherwise it
 * becomes a tombstone with its seq, so an older value in a file outside
 * this merge cannot resurface once the expired record is gone. */
static int
mg_expired(mg *m, const cask_rec *r, const kd_entry *e)
{
    int rc = mg_add_move(m, r->key, r->klen, e, NULL, 1);

    if (rc != 0 || m->full)
        return rc;
    uint64_t n = cask_rec_size(r->klen, 0), pos;
    uint8_t *buf = malloc(n);
    if (buf == NULL)
        return cask_fail(CASK_ENOMEM, "merge: out of memory");
    cask_rec t = *r;
    t.flags = CASK_FLAG_TOMB;
    t.vlen = 0;
    t.expiry_ms = 0;
    cask_rec_encode(buf, &t);
    t.key = buf + CASK_REC_HDR;
    rc = mg_copy(m, buf, n, &t, &pos);
    free(buf);
    return rc;
}

static int
mg_record(mg *m, const cask_file *in, const uint8_t *rec, uint64_t n,
          uint64_t off, const cask_rec *r)
{
    kd_entry e, to;
    uint64_t pos;
    int rc;

    if (r->flags & CASK_FLAG_TOMB)
        return mg_tomb(m, rec, n, r);
    if (kd_get(m->c->kd, r->key, r->klen, &e) != KD_OK ||
        e.file_id != in->id || e.value_pos != off || e.seq != r->seq)
        return 0; /* superseded: dead */
    if (r->expiry_ms != 0 && r->expiry_ms <= m->now_ms)
        return mg_expired(m, r, &e);
    if ((rc = mg_copy(m, rec, n, r, &pos)) != 0)
        return rc;
    to = e;
    to.file_id = m->out->id;
    to.value_pos = pos;
    return mg_add_move(m, r->key, r->klen, &e, &to, 0);
}

static int
mg_input(mg *m, cask_file *in)
{
    cask *c = m->c;
    uint64_t size = sync_load_rlx(&in->size), off = CASK_FILE_HDR, len;
    cask_rec r;
    int rc = 0;

    if (size <= CASK_FILE_HDR)
        return 0;
    int fd = cask_fd_get(in);
    if (fd < 0)
        return fd;
    /* the mapping keeps the file open by itself */
    uint8_t *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    cask_fd_put(in);
    if (p == MAP_FAILED)
        return cask_fail(CASK_EIO, "%s/%010u.data: mmap: %s", c->dir, in->id,
                         strerror(errno));
    while (rc == 0 && off < size) {
        if (cask_rec_decode(p + off, size - off, &r, &len) != 0) {
            rc = cask_fail(CASK_ECORRUPT, "%s/%010u.data offset %llu: record "
                           "fails its checksum during merge", c->dir, in->id,
                           (unsigned long long)off);
            break;
        }
        rc = mg_record(m, in, p + off, len, off, &r);
        off += len;
    }
    munmap(p, size);
    return rc;
}

/* ---- commit ------------------------------------------------------------------------ */

static int
mg_commit(mg *m, cask_file **in, size_t nin)
{
    cask *c = m->c;
    char path[4096];
    cask_buf b = {0};
    uint32_t *ids = malloc(nin * sizeof *ids);
    uint32_t mid = m->first_out ? m->first_out : in[nin - 1]->id;
    int fd = -1, rc = 0;

    if (ids == NULL)
        return cask_fail(CASK_ENOMEM, "merge: out of memory");
    for (size_t i = 0; i < nin; i++)
        ids[i] = in[i]->id;
    cask_path(c, path, sizeof path, mid, "manifest");
    if (cask_manifest_encode(&b, ids, (uint32_t)nin) != 0)
        rc = cask_fail(CASK_ENOMEM, "merge: out of memory");
    if (rc == 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || cask_write_full(fd, b.p, b.len, 0) != 0 ||
            fdatasync(fd) != 0 || fsync(c->dirfd) != 0)
            rc = cask_fail(CASK_EIO, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    free(b.p);
    for (size_t i = 0; rc == 0 && i < nin; i++)
        rc = cask_fd_hold(in[i]);
    if (rc == 0) {
        /* the table's references go after a grace period (cask_merge
         * waits for it at its end) */
        cask_tab_remove(c, ids, nin);
        for (size_t i = 0; i < nin; i++) {
            char p2[4096];
            cask_path(c, p2, sizeof p2, ids[i], "hint");
            unlink(p2);
            cask_path(c, p2, sizeof p2, ids[i], "data");
            unlink(p2);
        }
        if (fsync(c->dirfd) != 0 || unlink(path) != 0 || fsync(c->dirfd) != 0)
            rc = cask_fail(CASK_EIO, "%s: %s", path, strerror(errno));
    }
    free(ids);
    return rc;
}

static int
mg_run(mg *m, cask_file **in, size_t nin)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < nin; i++)
        rc = mg_input(m, in[i]);
    if (rc == 0)
        rc = mg_finish_out(m);
    else if (m->out != NULL) {
        sync_store_rel(&m->out->uncached, 0);
        cask_file_unpin(m->out);
        m->out = NULL;
    }
    /* Every record that superseded a dropped one must be durable before
     * the inputs go, or a crash could bring back what it replaced. */
    if (rc == 0)
        rc = cask_sync(m->c);
    if (rc == 0)
        rc = mg_commit(m, in, nin);
    return rc;
}

int
cask_merge(cask *c, int mode)
{
    uint64_t t0 = sync_now_ns();
    cask_file **cand;
    size_t ncand, nin;
    mg m = {0};
    int rc;

    if (mode != CASK_MERGE_AUTO && mode != CASK_MERGE_ALL)
        return cask_fail(CASK_EINVAL, "merge mode %d", mode);
    if ((rc = cask_check_writable(c)) != 0)
        return rc;
    /* "all" means every file rotated out so far: a file whose hint the
     * retire thread has still to write is not a candidate yet */
    if (mode == CASK_MERGE_ALL)
        cask_flush_hints(c);
    pthread_mutex_lock(&c->merge_mu);
    rc = mg_candidates(c, &cand, &ncand);
    if (rc != 0) {
        pthread_mutex_unlock(&c->merge_mu);
        return rc;
    }
    nin = mode == CASK_MERGE_ALL ? ncand : mg_policy(c, cand, ncand);
    m.c = c;
    m.full = nin == ncand;
    m.now_ms = cask_now_ms();
    if (nin > 0)
        rc = mg_run(&m, cand, nin);
    for (size_t i = 0; i < ncand; i++)
        cask_file_unpin(cand[i]);
    free(cand);
    /* Retired inputs are unmapped and closed (their space freed) once no
     * get can still be reading them: wait for the gets in progress. */
    if (nin > 0)
        cask_grace_wait(c);
    free(m.mv);
    free(m.keys.p);
    free(m.hint.p);
    if (rc == 0 && nin > 0) {
        uint64_t ns = sync_now_ns() - t0;
        sync_faa_rlx(&c->merges, 1);
        sync_faa_rlx(&c->merge_ns_total, ns);
        sync_store_rlx(&c->merge_ns_last, ns);
    }
    pthread_mutex_unlock(&c->merge_mu);
    return rc != 0 ? rc : (int)nin;
}

/* ---- the automatic merge thread ------------------------------------------------------ */

static void
mg_deadline(struct timespec *ts, uint32_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + (uint64_t)ms * 1000000u;
    ts->tv_sec += (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

/* One policy check, outside stop_mu. A poisoned store is left alone: its
 * merges could only fail at their sync, and the writers already report
 * the poisoning. The thread is registered with the keydir only around the
 * merge: a registered thread asleep for merge_check_ms would hold back
 * the grace periods of the RCU keydirs. */
static void
mg_auto_once(cask *c)
{
    if (sync_load_acq(&c->poisoned))
        return;
    kd_thread_register(c->kd);
    int rc = cask_merge(c, CASK_MERGE_AUTO);
    kd_thread_unregister(c->kd);
    if (rc < 0) {
        sync_faa_rlx(&c->merge_errors, 1);
        cask_log(c, "%s: automatic merge failed: %s: %s", c->dir,
                 cask_strerror(rc), cask_errdetail());
    }
}

/* Wakes every merge_check_ms, or at once after a rotation (merge_kick),
 * and stops when cask_close sets stopping. */
static void *
mg_thread(void *arg)
{
    cask *c = arg;
    struct timespec ts;

    pthread_mutex_lock(&c->stop_mu);
    while (!c->stopping) {
        if (!c->merge_kick) {
            mg_deadline(&ts, c->opt.merge_check_ms);
            pthread_cond_timedwait(&c->merge_cv, &c->stop_mu, &ts);
        }
        if (c->stopping)
            break;
        c->merge_kick = 0;
        pthread_mutex_unlock(&c->stop_mu);
        mg_auto_once(c);
        pthread_mutex_lock(&c->stop_mu);
        c->auto_merge_runs++;
        pthread_cond_broadcast(&c->merge_done_cv);
    }
    pthread_mutex_unlock(&c->stop_mu);
    return NULL;
}

int
cask_merger_start(cask *c)
{
    if (pthread_create(&c->merger, NULL, mg_thread, c) != 0)
        return cask_fail(CASK_ENOMEM, "cannot start the merge thread");
    c->merger_on = 1;
    return 0;
}

void
cask_merger_stop(cask *c)
{
    if (!c->merger_on)
        return;
    pthread_mutex_lock(&c->stop_mu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->merge_cv);
    pthread_cond_broadcast(&c->merge_done_cv);
    pthread_mutex_unlock(&c->stop_mu);
    pthread_join(c->merger, NULL);
    c->merger_on = 0;
}

void
cask_merger_kick(cask *c)
{
    if (!c->opt.auto_merge)
        return;
    pthread_mutex_lock(&c->stop_mu);
    c->merge_kick = 1;
    pthread_cond_signal(&c->merge_cv);
    pthread_mutex_unlock(&c->stop_mu);
}

int
cask_merge_wait(cask *c, uint64_t runs, uint32_t timeout_ms)
{
    struct timespec ts;
    int rc = 0;

    if (!c->opt.auto_merge)
        return cask_fail(CASK_EINVAL, "%s: automatic merging is off", c->dir);
    mg_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&c->stop_mu);
    while (c->auto_merge_runs < runs && !c->stopping && rc == 0)
        rc = pthread_cond_timedwait(&c->merge_done_cv, &c->stop_mu, &ts);
    int done = c->auto_merge_runs >= runs;
    pthread_mutex_unlock(&c->stop_mu);
    return done ? 0
                : cask_fail(CASK_EINVAL, "%s: %llu automatic merge checks "
                            "not done within %u ms", c->dir,
                            (unsigned long long)runs, timeout_ms);
}
