/*
 * tests/fuzz/fuzz_cmds.c - libFuzzer target for the server's command
 * handlers (net/commands.c), the layer behind the RESP parser.
 *
 * The input is parsed as RESP requests (inline or multibulk), which run as
 * one batch against a fresh in-memory store, as a pool worker would run
 * them; then the batch's replies must parse as RESP replies, one per
 * command that ran. ASan/UBSan catch crashes, leaks and undefined
 * behaviour in argument handling (indices, offsets, expiries, globs,
 * cursors). The bulk limit is small, so that SETRANGE and APPEND cannot
 * make the fuzzer allocate hundreds of MiB.
 */
#include "net/server_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const resp_limits fz_lim = {.max_bulk = 4096, .max_args = 64,
                                   .max_inline = 4096, .max_request = 16384};

/* Skips one RESP reply at b[*off..len); -1 if it is not a whole one. */
static int
fz_skip_reply(const char *b, size_t len, size_t *off)
{
    const char *nl;
    long long n;
    char *end;

    if (*off >= len)
        return -1;
    nl = memchr(b + *off, '\n', len - *off);
    if (nl == NULL || nl == b + *off || nl[-1] != '\r')
        return -1;
    switch (b[*off]) {
    case '+':
    case '-':
    case ':':
        *off = (size_t)(nl - b) + 1;
        return 0;
    case '$':
    case '*':
        n = strtoll(b + *off + 1, &end, 10);
        if (end != nl - 1)
            return -1;
        if (b[*off] == '$') {
            *off = (size_t)(nl - b) + 1;
            if (n < 0)
                return 0;
            if ((size_t)n + 2 > len - *off)
                return -1;
            *off += (size_t)n + 2;
            return 0;
        }
        *off = (size_t)(nl - b) + 1;
        for (long long i = 0; i < n; i++)
            if (fz_skip_reply(b, len, off) != 0)
                return -1;
        return 0;
    default:
        return -1;
    }
}

/* INFO and the HTTP status read the pool's counters: one pool for the
 * whole run, made before the first input so that it is not a leak. */
static sync_pool *fz_pool;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    sync_pool_opts o = {.threads = 1, .queue = SYNC_QUEUE_MUTEX};

    (void)argc;
    (void)argv;
    if (sync_pool_create(&o, &fz_pool) != 0)
        abort();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srv_shared sh = {0};
    srv_session sess = {0};
    srv_batch b = {0};
    resp_parser *p;
    size_t off = 0, ran, pos = 0;

    if (srv_memstore_open(&sh.store) != 0 ||
        resp_parser_create(&fz_lim, &p) != 0)
        abort();
    sh.opts.limits = fz_lim; /* and the rest as srv_create leaves them */
    sh.opts.host = "127.0.0.1";
    sh.opts.max_clients = 10000;
    sh.pool = fz_pool;
    sess.authed = 1;
    sess.id = 1;
    b.sh = &sh;
    b.sess = &sess;
    while (off < size) {
        resp_cmd *c;
        size_t used;
        if (resp_parse(p, (const char *)data + off, size - off, &used, &c) != 0)
            break;
        off += used;
        if (c == NULL)
            continue;
        if (b.n == b.cap) {
            size_t cap = b.cap ? 2 * b.cap : 8;
            resp_cmd **v = realloc(b.cmds, cap * sizeof(*v));
            if (v == NULL)
                abort();
            b.cmds = v;
            b.cap = cap;
        }
        b.cmds[b.n++] = c;
    }
    srv_exec_batch(&b);
    /* QUIT and SHUTDOWN end the batch: those after them do not run. */
    ran = 0;
    while (pos < b.out.len) {
        if (fz_skip_reply(b.out.data, b.out.len, &pos) != 0)
            abort();
        ran++;
    }
    if (ran > b.n || (ran < b.n && !b.quit && !b.shutdown))
        abort();
    for (size_t i = 0; i < b.n; i++)
        resp_cmd_free(b.cmds[i]);
    free(b.cmds);
    resp_buf_free(&b.out);
    srv_session_clear(&sess);
    free(sess.name);
    free(sess.lib_name);
    free(sess.lib_ver);
    resp_parser_destroy(p);
    sh.store->ops->destroy(sh.store);
    return 0;
}
