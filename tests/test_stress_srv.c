/*
 * tests/test_stress_srv.c - the stress harness's "server" target against a
 * real server: `casklab serve` over the engine (in a fresh temporary
 * directory, sync none) is started in this process on a free port of
 * 127.0.0.1, the harness drives it over RESP from several threads, and the
 * checker must find the history linearizable. A second case stops the
 * server under the harness's feet: every operation must then come back as
 * recorded (timeouts and dropped connections as info), never a crash.
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

static void
test_server_linearizable(void)
{
    ss_server s;
    stress_options so = {0};
    stress_stats st;
    lin_options lo = {0};
    lin_result r;
    hist h;

    ss_start(&s);
    so.target = s.target;
    so.threads = 4;
    so.keys = 8;
    so.ops = SS_OPS;
    CU_ASSERT_EQUAL_FATAL(stress_run(&so, &h, &st), 0);
    CU_ASSERT_EQUAL(st.ops, SS_OPS);
    lo.threads = 2;
    lo.timeout_s = 60;
    CU_ASSERT_EQUAL_FATAL(lin_check(&h, &lo, &r), 0);
    CU_ASSERT_EQUAL(r.verdict, LIN_LINEARIZABLE);
    lin_result_free(&r);
    hist_free(&h);
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

/* Nothing listens: every operation fails and is recorded as info. */
static void
test_unreachable_server(void)
{
    ss_server s;
    stress_options so = {0};
    hist h;
    size_t info = 0;

    ss_start(&s);
    ss_finish(&s); /* the port is free again and nobody answers on it */
    so.target = s.target;
    so.threads = 2;
    so.ops = 200;
    CU_ASSERT_EQUAL_FATAL(stress_run(&so, &h, NULL), 0);
    for (size_t i = 0; i < h.nops; i++)
        info += h.ops[i].status == HIST_ST_INFO;
    CU_ASSERT_EQUAL(info, h.nops);
    hist_free(&h);
}

int
main(void)
{
    static const ct_case cases[] = {
        CT_CASE(test_server_linearizable),
        CT_CASE(test_bad_target_names),
        CT_CASE(test_unreachable_server),
    };

    signal(SIGPIPE, SIG_IGN);
    return ct_run("stress.server", cases, CT_NCASES(cases)) ? 1 : 0;
}
