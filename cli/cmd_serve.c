/*
 * cli/cmd_serve.c - `casklab serve`: the Redis-protocol server of net/.
 *
 * Parses the options into srv_opts, opens the store and runs the server
 * until SIGINT/SIGTERM or SHUTDOWN. The store is the engine on --dir
 * (net/caskstore.c); the in-memory store of net/memstore.c is reachable
 * only by asking for it (--store memory), so nobody loses data to it by
 * forgetting an option.
 */
#include "cli/cli.h"
#include "net/caskstore.h"
#include "net/server.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
serve_usage(void)
{
    printf("usage: casklab serve --dir D [--keydir NAME] [--sync MODE]\n"
           "                     [--host ADDR] [--port N] [--threads T]\n"
           "                     [--queue mutex|ring] [--requirepass PASS] ...\n"
           "       casklab serve --store memory [...]\n\n"
           "Serves the store over the Redis protocol (RESP2): redis-cli and\n"
           "redis-benchmark work against it. Commands run on a thread pool;\n"
           "each connection's commands run and are answered in order.\n"
           "SIGINT/SIGTERM or SHUTDOWN stop it gracefully (in-flight requests\n"
           "finish, the store is synced); a second signal stops it at once.\n"
           "The store is the Bitcask engine in directory D (created if\n"
           "needed); --store memory serves a non-durable in-memory map instead.\n\n"
           "  --dir D            the engine's store directory (required unless\n"
           "                     --store memory)\n"
           "  --store KIND       cask (default) or memory\n"
           "  --keydir NAME      the engine's keydir (default lockfree)\n"
           "  --sync MODE        none, always or interval:MS (default none):\n"
           "                     with always a write is answered only once it\n"
           "                     is durable (concurrent writes share one\n"
           "                     fdatasync: group commit)\n"
           "  --read-only        open the store read-only (nothing in D is\n"
           "                     written, so a full disk or a read-only\n"
           "                     mount can be served): writes answer\n"
           "                     -READONLY (HTTP 403); beside a running\n"
           "                     writer, the snapshot of its start\n"
           "  --host ADDR        address to bind (default 127.0.0.1)\n"
           "  --port N           TCP port (default 6380; 0 = any free port)\n"
           "  --threads T        pool workers (default: online cores; one more\n"
           "                     with --sync always, for the commits)\n"
           "  --queue KIND       pool queue: mutex or ring (default ring)\n"
           "  --queue-capacity N batches queued at most (default 4096)\n"
           "  --http-port N      also serve the HTTP API on port N (0 = any\n"
           "                     free port; default: off): GET/PUT/DELETE\n"
           "                     /v1/kv/KEY, GET /v1/status, POST\n"
           "                     /v1/admin/merge, GET /metrics\n"
           "  --requirepass PASS clients must AUTH first (HTTP: header\n"
           "                     'Authorization: Bearer PASS')\n"
           "  --max-clients N    connections at most (default 10000)\n"
           "  --timeout S        close clients idle S seconds (default 0: never)\n"
           "  --shutdown-ms N    on stop, wait at most N ms for clients to take\n"
           "                     their replies (default 10000)\n"
           "  --max-bulk N       bytes of one argument (default 536870912)\n"
           "  --max-args N       arguments of one request (default 1048576)\n"
           "  --max-inline N     bytes of an inline request (default 65536)\n"
           "  --max-request N    bytes of one request (default 1073741824)\n"
           "  --backpressure N   unsent reply bytes that pause reading a\n"
           "                     client (default 1048576)\n"
           "  --max-output N     unsent reply bytes that close a client\n"
           "                     (default 268435456)\n\n"
           "Prints 'listening on ADDR:PORT' once ready. Exit status: 0 after a\n"
           "graceful stop, 1 if it cannot start or was stopped at once, 64 for\n"
           "a bad command line.\n");
}

static int
serve_num(const char *opt, const char *s, unsigned long long max,
          unsigned long long *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || *out > max) {
        fprintf(stderr, "casklab serve: %s needs a number in [0, %llu], got "
                "'%s'\n", opt, max, s);
        return -1;
    }
    return 0;
}

enum {
    OPT_HOST = 256, OPT_PORT, OPT_THREADS, OPT_QUEUE, OPT_QCAP, OPT_PASS,
    OPT_CLIENTS, OPT_TIMEOUT, OPT_BULK, OPT_ARGS, OPT_INLINE, OPT_REQUEST,
    OPT_BACKPRESSURE, OPT_OUTPUT, OPT_SHUTDOWN, OPT_HTTP, OPT_DIR, OPT_STORE,
    OPT_KEYDIR, OPT_SYNC, OPT_READONLY
};

/* The store options: which store, and the engine's configuration. */
typedef struct serve_store {
    const char *dir;
    int memory;
    cask_options copt;
} serve_store;

/* Stores a numeric option; returns -1 on a bad value. */
static int
serve_set_num(int c, const char *arg, srv_opts *o)
{
    unsigned long long v, big = 1ull << 40;
    struct { int opt; const char *name; unsigned long long max; } t[] = {
        {OPT_PORT, "--port", 65535},     {OPT_THREADS, "--threads", 1024},
        {OPT_QCAP, "--queue-capacity", 1u << 24},
        {OPT_CLIENTS, "--max-clients", 1000000},
        {OPT_TIMEOUT, "--timeout", 1u << 30}, {OPT_BULK, "--max-bulk", big},
        {OPT_ARGS, "--max-args", 1u << 30}, {OPT_INLINE, "--max-inline", big},
        {OPT_REQUEST, "--max-request", big},
        {OPT_BACKPRESSURE, "--backpressure", big},
        {OPT_OUTPUT, "--max-output", big},
        {OPT_SHUTDOWN, "--shutdown-ms", 1u << 30},
        {OPT_HTTP, "--http-port", 65535},
    };
    size_t i = 0;

    while (t[i].opt != c)
        i++;
    if (serve_num(t[i].name, arg, t[i].max, &v) != 0)
        return -1;
    switch (c) {
    case OPT_PORT: o->port = (int)v; break;
    case OPT_THREADS: o->threads = (unsigned)v; break;
    case OPT_QCAP: o->queue_capacity = (size_t)v; break;
    case OPT_CLIENTS: o->max_clients = (unsigned)v; break;
    case OPT_TIMEOUT: o->timeout_s = (unsigned)v; break;
    case OPT_BULK: o->limits.max_bulk = (size_t)v; break;
    case OPT_ARGS: o->limits.max_args = (size_t)v; break;
    case OPT_INLINE: o->limits.max_inline = (size_t)v; break;
    case OPT_REQUEST: o->limits.max_request = (size_t)v; break;
    case OPT_BACKPRESSURE: o->backpressure = (size_t)v; break;
    case OPT_SHUTDOWN: o->shutdown_ms = (unsigned)v; break;
    case OPT_HTTP: o->http = 1; o->http_port = (int)v; break;
    default: o->max_output = (size_t)v; break;
    }
    return 0;
}

/* Handles the store options; 1 if c was not one, -1 on a bad value. */
static int
serve_store_opt(int c, const char *arg, serve_store *st)
{
    switch (c) {
    case OPT_DIR: st->dir = arg; return 0;
    case OPT_KEYDIR: st->copt.keydir = arg; return 0;
    case OPT_READONLY: st->copt.read_only = 1; return 0;
    case OPT_STORE:
        if (strcmp(arg, "memory") == 0 || strcmp(arg, "cask") == 0) {
            st->memory = arg[0] == 'm';
            return 0;
        }
        fprintf(stderr, "casklab serve: --store is cask or memory, got '%s'\n",
                arg);
        return -1;
    case OPT_SYNC:
        if (cask_parse_sync(arg, &st->copt) == 0)
            return 0;
        fprintf(stderr, "casklab serve: --sync is none, always or "
                "interval:MS, got '%s'\n", arg);
        return -1;
    default: return 1;
    }
}

static int
serve_parse(int argc, char **argv, srv_opts *o, serve_store *st)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"queue", required_argument, NULL, OPT_QUEUE},
        {"queue-capacity", required_argument, NULL, OPT_QCAP},
        {"requirepass", required_argument, NULL, OPT_PASS},
        {"max-clients", required_argument, NULL, OPT_CLIENTS},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-bulk", required_argument, NULL, OPT_BULK},
        {"max-args", required_argument, NULL, OPT_ARGS},
        {"max-inline", required_argument, NULL, OPT_INLINE},
        {"max-request", required_argument, NULL, OPT_REQUEST},
        {"backpressure", required_argument, NULL, OPT_BACKPRESSURE},
        {"max-output", required_argument, NULL, OPT_OUTPUT},
        {"shutdown-ms", required_argument, NULL, OPT_SHUTDOWN},
        {"http-port", required_argument, NULL, OPT_HTTP},
        {"dir", required_argument, NULL, OPT_DIR},
        {"store", required_argument, NULL, OPT_STORE},
        {"keydir", required_argument, NULL, OPT_KEYDIR},
        {"sync", required_argument, NULL, OPT_SYNC},
        {"read-only", no_argument, NULL, OPT_READONLY},
        {NULL, 0, NULL, 0},
    };
    int c, r;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == OPT_HOST) {
            o->host = optarg;
        } else if (c == OPT_PASS) {
            o->requirepass = optarg;
        } else if (c == OPT_QUEUE) {
            if (sync_queue_kind_parse(optarg, &o->queue) != 0) {
                fprintf(stderr, "casklab serve: --queue is mutex or ring, "
                        "got '%s'\n", optarg);
                return -1;
            }
        } else if (c == '?' || (r = serve_store_opt(c, optarg, st)) < 0 ||
                   (r > 0 && serve_set_num(c, optarg, o) != 0)) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "casklab serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!st->memory && st->dir == NULL) {
        fprintf(stderr, "casklab serve: needs --dir D (or --store memory)\n");
        return -1;
    }
    if (st->memory && st->dir != NULL) {
        fprintf(stderr, "casklab serve: --store memory takes no --dir\n");
        return -1;
    }
    if (st->memory && st->copt.read_only) {
        fprintf(stderr, "casklab serve: --read-only serves an engine store "
                        "(--dir)\n");
        return -1;
    }
    return 0;
}

/* Opens the chosen store; prints why not and returns -1 on failure. */
static int
serve_open_store(serve_store *st, srv_store **out)
{
    char err[512];
    int rc;

    if (st->memory) {
        rc = srv_memstore_open(out);
        if (rc != 0)
            fprintf(stderr, "casklab serve: %s\n", srv_strerror(rc));
        return rc == 0 ? 0 : -1;
    }
    rc = srv_caskstore_open(st->dir, &st->copt, out, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "casklab serve: cannot open the store: %s\n", err);
    return rc == 0 ? 0 : -1;
}

static int
serve_run(int argc, char **argv)
{
    srv_opts o = {.port = 6380, .queue = SYNC_QUEUE_RING, .handle_signals = 1};
    /* The server's keydir by default is lockfree, our own: its gets never
     * block and it measured best under the server (make bench-server:
     * always SET -P16 1.47-1.65x Redis, against 1.41-1.48x on striped, the
     * engine library's default). */
    serve_store st = {NULL, 0, {.keydir = "lockfree"}};
    srv_store *store;
    srv_server *srv;
    char err[160];
    int rc;

    if (serve_parse(argc, argv, &o, &st) != 0) {
        fprintf(stderr, "Try 'casklab serve --help'.\n");
        return CLI_EXIT_USAGE;
    }
    if (serve_open_store(&st, &store) != 0)
        return CLI_EXIT_FAIL;
    rc = srv_create(&o, store, &srv, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "casklab serve: %s\n", err[0] ? err : srv_strerror(rc));
        store->ops->destroy(store);
        return rc == SRV_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    printf("casklab serve: listening on %s:%d (store: %s%s, pool: %s queue)\n",
           o.host ? o.host : "127.0.0.1", srv_port(srv),
           st.memory ? "memory" : "cask on ", st.memory ? "" : st.dir,
           sync_queue_kind_name(o.queue));
    if (o.http)
        printf("casklab serve: HTTP API on %s:%d\n", o.host ? o.host : "127.0.0.1",
               srv_http_port(srv));
    fflush(stdout);
    rc = srv_run(srv);
    if (rc == SRV_EFORCED) {
        /* Workers may still be running: leave without tearing down. */
        fprintf(stderr, "casklab serve: %s\n", srv_strerror(rc));
        _exit(CLI_EXIT_FAIL);
    }
    srv_destroy(srv);
    store->ops->destroy(store);
    printf("casklab serve: stopped\n");
    return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_serve = {
    "serve", "serve the store over the Redis protocol (redis-cli works)",
    serve_run, serve_usage,
};
