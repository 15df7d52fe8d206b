/*
 * tests/test_stress_srv.c - the stress harness's "server" target against a
 * real server: `casklab serve` over the engine (in a fresh temporary
 * directory, sync none) is started in this process on a free port of
 * 127.0.0.1, the harness drives it over RESP from several threads, and the
 * checker must find the history linearizable, also for a second run on
 * the same server. Another case stops the server under the harness's
 * feet: every operation must then come back as recorded (timeouts and
 * dropped connections as info), never a crash; and a server that is not
 * there at all is refused with a clear error.
 */
#include "net/caskstore.h"
#include "net/server.h"
#include "stress/lincheck.h"
#include "stress/stress.h"
#include "tests/cutest.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SS_OPS = 6000 };

typedef struct ss_server {
    char dir[64];
    srv_store *store;
    srv_server *srv;
    pthread_t th;
    int run_rc;
    char target[64];
} ss_server;

static void *
ss_run(void *arg)
{
    ss_server *s = arg;

    s->run_rc = srv_run(s->srv);
    return NULL;
}

static void
ss_start(ss_server *s)
{
    srv_opts o = {0};
    cask_options co = {0};
    char err[256];

    memset(s, 0, sizeof(*s));
    strcpy(s->dir, "/tmp/casklab-stresssrv-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(s->dir));
    CU_ASSERT_EQUAL_FATAL(srv_caskstore_open(s->dir, &co, &s->store, err,
                                             sizeof(err)), 0);
    o.threads = 2;
    CU_ASSERT_EQUAL_FATAL(srv_create(&o, s->store, &s->srv, err, sizeof(err)),
                          0);
    snprintf(s->target, sizeof(s->target), "server:127.0.0.1:%d",
             srv_port(s->srv));
    CU_ASSERT_EQUAL_FATAL(pthread_create(&s->th, NULL, ss_run, s), 0);
}

/* Stops the server (if still running) and removes its directory. */
static void
ss_finish(ss_server *s)
{
    DIR *d;
    struct dirent *e;
    char path[512];

    srv_stop(s->srv);
    pthread_join(s->th, NULL);
    CU_ASSERT_EQUAL(s->run_rc, 0);
    srv_destroy(s->srv);
    s->store->ops->destroy(s->store);
    d = opendir(s->dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
            CU_ASSERT_EQUAL(unlink(path), 0);
        }
    }
    closedir(d);
    CU_ASSERT_EQUAL(rmdir(s->dir), 0);
}

/* Checks h (then frees it): it must be linearizable. */
static void
ss_assert_linearizable(hist *h)
{
    lin_options lo = {.threads = 2, .timeout_s = 60};
    lin_result r;

    CU_ASSERT_EQUAL_FATAL(lin_check(h, &lo, &r), 0);
    CU_ASSERT_EQUAL(r.verdict, LIN_LINEARIZABLE);
    lin_result_free(&r);
    hist_free(h);
}

/* One run of SS_OPS operations, 4 threads on 8 keys, against s: every
 * operation recorded, and the history linearizable. */
static void
ss_run_linearizable(const ss_server *s, uint64_t seed)
{
    stress_options so = {.target = s->target, .threads = 4, .keys = 8,
                         .ops = SS_OPS, .seed = seed};
    stress_stats st;
    hist h;

    CU_ASSERT_EQUAL_FATAL(stress_run(&so, &h, &st), 0);
    CU_ASSERT_EQUAL(st.ops, SS_OPS);
    ss_assert_linearizable(&h);
}

static void
test_server_linearizable(void)
{
    ss_server s;

    ss_start(&s);
    ss_run_linearizable(&s, 0);
    ss_finish(&s);
}

static void
test_bad_target_names(void)
{
    const stress_target_ops *ops;
    stress_target *t;

    CU_ASSERT_EQUAL(stress_target_open("server:", &ops, &t), STRESS_ENOTARGET);
    CU_ASSERT_EQUAL(stress_target_open("server:host:x", &ops, &t),
                    STRESS_ENOTARGET);
    CU_ASSERT_EQUAL(stress_target_open("server:70000", &ops, &t),
                    STRESS_ENOTARGET);
    CU_ASSERT_EQUAL_FATAL(stress_target_open("server:localhost:6380", &ops, &t),
                          0);
    ops->close(t);
}

/* Two runs on one server: the second finds the first one's values under
 * its keys. The harness deletes its keys before recording, so the second
 * history starts empty as the checker assumes (before, its first gets
 * returned the first run's values and the check failed a correct server). */
static void
test_second_run_same_server(void)
{
    ss_server s;

    ss_start(&s);
    for (uint64_t seed = 1; seed <= 2; seed++)
        ss_run_linearizable(&s, seed);
    CU_ASSERT(s.store->ops->count(s.store) > 0); /* the keys were there */
    ss_finish(&s);
}

/* Nothing listens: the run refuses to start (it cannot delete its keys)
 * and says so, rather than record a history of nothing but info. */
static void
test_unreachable_server(void)
{
    ss_server s;
    stress_options so = {0};
    hist h;

    ss_start(&s);
    ss_finish(&s); /* the port is free again and nobody answers on it */
    so.target = s.target;
    so.threads = 2;
    so.ops = 200;
    CU_ASSERT_EQUAL(stress_run(&so, &h, NULL), STRESS_ECLEAR);
    CU_ASSERT_STRING_EQUAL(stress_strerror(STRESS_ECLEAR),
                           "the target failed to delete the run's keys "
                           "before the run");
}

typedef struct ss_job {
    stress_options so;
    hist h;
    int rc;
} ss_job;

static void *
ss_stress(void *arg)
{
    ss_job *j = arg;

    j->rc = stress_run(&j->so, &j->h, NULL);
    return NULL;
}

/* The server stops under the harness's feet: the operations after that
 * come back as info (refused connections), never a crash, and the history
 * of the ones before is still linearizable. */
static void
test_server_stops_mid_run(void)
{
    ss_server s;
    ss_job j = {0};
    pthread_t th;
    size_t info = 0, ok = 0;

    ss_start(&s);
    j.so.target = s.target;
    j.so.threads = 2;
    j.so.keys = 8;
    j.so.duration_s = 1.5;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, ss_stress, &j), 0);
    /* Keys in the store: the harness has cleared them and is recording. */
    for (int i = 0; i < 10000 && s.store->ops->count(s.store) == 0; i++)
        usleep(1000);
    CU_ASSERT_FATAL(s.store->ops->count(s.store) > 0);
    ss_finish(&s);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL_FATAL(j.rc, 0);
    for (size_t i = 0; i < j.h.nops; i++) {
        info += j.h.ops[i].status == HIST_ST_INFO;
        ok += j.h.ops[i].status == HIST_ST_OK;
    }
    CU_ASSERT(ok > 0);
    CU_ASSERT(info > 0);
    ss_assert_linearizable(&j.h);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_server_linearizable),
        CT_CASE(test_bad_target_names),
        CT_CASE(test_second_run_same_server),
        CT_CASE(test_unreachable_server),
        CT_CASE(test_server_stops_mid_run),
    };

    signal(SIGPIPE, SIG_IGN);
    return ct_run("stress.server", cases, CT_NCASES(cases)) ? 1 : 0;
}
