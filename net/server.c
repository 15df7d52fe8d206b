/*
 * net/server.c - the loop side of the server (see net/server.h for the
 * model): accept, read, parse into batches, hand batches to the pool a
 * loop pass at a time, collect them back through a uv_async, write
 * replies in order, enforce limits, shut down gracefully.
 *
 * Everything here runs on the loop thread except srv_stop and job_run
 * (called by workers), which touch only the completion list under its
 * mutex, the batches of the job they run, and the async handle, whose
 * uv_async_send is the one libuv call that is safe from any thread.
 *
 * Pass batching: an event that leaves a connection with a pending batch
 * and none in flight puts the connection on the ready list (conn_pump);
 * the uv_check handle, which libuv runs right after the poll phase, sends
 * the whole list to the pool (srv_submit_pass), and the uv_prepare handle
 * does the same before the loop blocks, for connections readied outside
 * the poll phase (write callbacks, timers, closes).
 *
 * Completions: a worker appends its finished chain to the completion list
 * and sends the uv_async only if the loop may be asleep. While the loop is
 * awake (from its first read or wake-up after a poll until the prepare
 * phase finds the list empty) it takes the list itself, in the check and
 * prepare callbacks, which spares an eventfd write, read and poll wake-up
 * per job whenever a job finishes while the loop is busy (srv_take_done).
 *
 * A connection is freed only when its handle is closed AND it has no batch
 * on the pool AND it is not on the ready list, so a worker never finishes
 * a batch for freed memory and a pass never submits one.
 * Shutdown waits for every connection to drain its batches and writes and
 * close; the last one out syncs the store and closes the loop's own
 * handles, which ends uv_run.
 */
#define _GNU_SOURCE /* SCHED_BATCH (Linux) */
#include "net/server_internal.h"

#include "sync/atomic.h"
#include "sync/clock.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

enum {
    SRV_READ_BUF = 64 * 1024,
    SRV_DEF_CLIENTS = 10000,
    SRV_DEF_BATCH = 1024,
    SRV_SWEEP_MS = 250,
    SRV_MAX_PASS_JOBS = 64,
    SRV_JOB_REQS = 64,
    SRV_SPARE_REQS = 1024,
    SRV_SPARE_OUT = 64 * 1024,
    SRV_DEF_SHUTDOWN_MS = 10000
};
/* Group commit's gathering (commit_gather): a gap in the write tickets
 * this long ends it, as does SRV_GATHER_MAX_NS; it checks every NAP. */
#define SRV_GATHER_GAP_NS 100000u
#define SRV_GATHER_MAX_NS 2000000u
#define SRV_GATHER_NAP_NS 20000
#define SRV_DEF_BACKPRESSURE ((size_t)1 << 20)
#define SRV_DEF_MAX_OUTPUT ((size_t)256 << 20)

typedef struct srv_conn {
    uv_tcp_t tcp;
    srv_server *srv;
    struct srv_conn *prev, *next;
    resp_parser *parser;
    http_parser *hparser; /* instead of parser on an HTTP connection */
    srv_session sess;
    srv_batch *inflight; /* on the pool (at most one) */
    srv_batch *pending;  /* requests parsed, waiting for inflight */
    srv_batch *spare;    /* a finished batch kept for reuse (or NULL) */
    struct srv_conn *ready_next; /* on the server's ready list */
    int queued;          /* on the ready list: pending goes out this pass */
    resp_buf out;        /* replies not yet written */
    resp_buf wbuf;       /* replies being written */
    uv_write_t wreq;
    uint64_t last_active;
    int writing, reading;
    int input_done; /* stop reading for good: error, QUIT, shutdown */
    int closing, closed;
} srv_conn;

struct srv_server {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_tcp_t http_listener;
    uv_async_t wake;
    uv_timer_t sweep;
    uv_timer_t grace; /* ends the graceful shutdown's wait for clients */
    uv_signal_t sigint, sigterm;
    /* Pass batching: connections whose pending batch may go to the pool
     * wait on the ready list until the loop has handled every event of
     * this pass; pass_check (after the poll phase) and pass_prep (before
     * it, for what timers and write callbacks queued) then send them as
     * at most pass_jobs jobs. */
    uv_check_t pass_check;
    uv_prepare_t pass_prep;
    srv_conn *ready, **ready_tail;
    unsigned pass_jobs;
    srv_shared sh;
    pthread_mutex_t done_lock;
    srv_batch *done, **done_tail; /* completion list (FIFO), from workers */
    /* The loop is between wake-up and its next poll and will take the
     * completion list before it blocks (srv_take_done), so a worker that
     * finds it set skips uv_async_send. Set by the loop alone; cleared
     * only under done_lock, when the list it took was empty. */
    _Atomic int loop_awake;
    int awake_mine; /* the loop's own copy of loop_awake */
    /* Group commit (loop side): batches that wrote wait in commit_wait
     * (oldest first) until the commit after them; commit_run holds those
     * the commit on the pool now covers. */
    srv_batch *commit_wait, **commit_tail, *commit_run;
    int commit_rc;
    _Atomic int commit_done;
    /* Write tickets: a worker takes the next one after running a batch
     * that wrote; a commit makes durable every batch whose ticket is at
     * most the count it read before syncing (commit_snap), whether or not
     * the loop had seen that batch yet. durable: the latest such count. */
    _Atomic uint64_t tickets;
    uint64_t commit_snap, durable;
    int commit_gather;    /* the commit job may wait for more writers ... */
    uint64_t commit_want; /* ... until this many tickets are out */
    size_t commit_last;   /* batches the last commit answered */
    uint64_t commit_ns;   /* how long the last commit's sync took */
    srv_conn *conns;
    _Atomic int stop_requested;
    int stopping, signals, forced, handles_closed;
    char readbuf[SRV_READ_BUF];
};

static void conn_close(srv_conn *c);
static void batch_free(srv_batch *b);
static void conn_pump(srv_conn *c);
static void srv_begin_shutdown(srv_server *s);
static void srv_mark_awake(srv_server *s);

/* ---- batches ------------------------------------------------------------- */

static srv_batch *
batch_new(srv_conn *c)
{
    srv_batch *b = c->spare;

    if (b != NULL) {
        c->spare = NULL;
        return b;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->sh = &c->srv->sh;
    b->http = c->hparser != NULL;
    b->conn = c;
    b->sess = &c->sess;
    return b;
}

/* Frees the batch's requests (RESP commands, which srv_exec_batch leaves
 * to the loop thread that allocated them, or what is left of HTTP ones). */
static void
batch_free_reqs(srv_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->http)
            http_request_free(b->reqs[i]);
        else
            resp_cmd_free(b->cmds[i]);
    }
    b->n = 0;
}

static void
batch_free(srv_batch *b)
{
    if (b == NULL)
        return;
    batch_free_reqs(b);
    free(b->cmds);
    free(b->reqs);
    free(b->proto_error);
    resp_buf_free(&b->out);
    free(b);
}

/* A batch back from the pool, its requests run and its replies taken:
 * kept as the connection's spare (with its request array and reply
 * buffer) so that the next batch costs no allocation, unless it grew
 * large, which a connection that pipelined a lot once need not hold on
 * to. */
static void
batch_recycle(srv_conn *c, srv_batch *b)
{
    if (c->spare != NULL || b->cap > SRV_SPARE_REQS ||
        b->out.cap > SRV_SPARE_OUT) {
        batch_free(b);
        return;
    }
    batch_free_reqs(b);
    free(b->proto_error);
    b->proto_error = NULL;
    b->http_error = 0;
    b->out.len = 0;
    b->quit = b->shutdown = 0;
    b->needs_commit = 0;
    b->commit_start = b->commit_ran = 0;
    b->ticket = 0;
    b->next = NULL;
    c->spare = b;
}

/* Adds a RESP command (or, in an HTTP batch, an http_request). */
static int
batch_add(srv_batch *b, void *item)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        void **v = realloc(b->http ? (void *)b->reqs : (void *)b->cmds,
                           cap * sizeof(*v));
        if (v == NULL)
            return SRV_ENOMEM;
        if (b->http)
            b->reqs = (http_request **)v;
        else
            b->cmds = (resp_cmd **)v;
        b->cap = cap;
    }
    if (b->http)
        b->reqs[b->n++] = item;
    else
        b->cmds[b->n++] = item;
    return 0;
}

/* Worker side: run a job (batches of different connections chained by
 * next), then hand the whole chain back to the loop with one lock and, if
 * the loop may be asleep, one uv_async_send. Why skipping it is safe: the
 * flag is read under done_lock, and the loop clears it under done_lock
 * in the same critical section in which it finds the list empty. If this
 * worker reads 1, the loop's clear that follows that 1 comes later in the
 * lock's order, so it finds our chain and does not block. If the loop
 * cleared first, we read 0 and send. */
static void
job_run(void *arg)
{
    srv_batch *head = arg, *last = head;
    srv_server *s = ((srv_conn *)head->conn)->srv;
    int awake;

    for (srv_batch *b = head; b != NULL; b = b->next) {
        srv_exec_batch(b);
        /* acq_rel: the batch's writes returned before its ticket, so a
         * commit that reads this ticket (acquire) syncs after them. */
        if (b->needs_commit)
            b->ticket = sync_faa_acqrel(&s->tickets, 1) + 1;
        last = b;
    }
    pthread_mutex_lock(&s->done_lock);
    *s->done_tail = head;
    s->done_tail = &last->next;
    awake = sync_load_rlx(&s->loop_awake);
    pthread_mutex_unlock(&s->done_lock);
    if (!awake)
        uv_async_send(&s->wake);
}

/* ---- connections --------------------------------------------------------- */

/* Reply bytes not yet in the kernel: queued here plus what libuv still
 * holds of the write in progress. */
static size_t
conn_unsent(const srv_conn *c)
{
    return c->out.len + c->tcp.write_queue_size;
}

static void
conn_free(srv_conn *c)
{
    srv_server *s = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    resp_parser_destroy(c->parser);
    http_parser_destroy(c->hparser);
    srv_client_unlink(&s->sh, &c->sess);
    srv_session_clear(&c->sess);
    batch_free(c->pending);
    batch_free(c->spare);
    resp_buf_free(&c->out);
    resp_buf_free(&c->wbuf);
    free(c);
    sync_fas_acqrel(&s->sh.clients, 1);
}

/* Frees the connection once its handle is closed and no batch runs; when
 * shutting down, the last connection out closes the server's handles. */
static void
conn_maybe_free(srv_conn *c)
{
    srv_server *s = c->srv;

    if (!c->closed || c->inflight != NULL || c->queued)
        return;
    conn_free(c);
    if (s->stopping && s->conns == NULL)
        srv_begin_shutdown(s);
}

static void
on_conn_closed(uv_handle_t *h)
{
    srv_conn *c = h->data;

    c->closed = 1;
    conn_maybe_free(c);
}

static void
conn_close(srv_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->input_done = 1;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_write(uv_write_t *req, int status);

/* Writes the queued replies: straight into the socket when it takes them
 * all (the common case: no write request, no callback a pass later), else
 * the rest through uv_write. */
static void
conn_flush(srv_conn *c)
{
    resp_buf t;
    uv_buf_t buf;
    size_t done;
    int n;

    if (c->writing || c->closing || c->out.len == 0)
        return;
    buf = uv_buf_init(c->out.data, (unsigned)c->out.len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    done = n > 0 ? (size_t)n : 0;
    if (done == c->out.len) {
        c->out.len = 0;
        c->last_active = uv_now(&c->srv->loop);
        return;
    }
    t = c->wbuf; /* swap: the accumulating buffer goes to the kernel */
    c->wbuf = c->out;
    c->out = t;
    c->out.len = 0;
    buf = uv_buf_init(c->wbuf.data + done, (unsigned)(c->wbuf.len - done));
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
        conn_close(c);
        return;
    }
    c->writing = 1;
}

static void
on_write(uv_write_t *req, int status)
{
    srv_conn *c = req->data;

    c->writing = 0;
    c->wbuf.len = 0;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->last_active = uv_now(&c->srv->loop);
    conn_pump(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* Reads only while the next batch and the unsent replies are small. */
static void
conn_update_reading(srv_conn *c)
{
    const srv_opts *o = &c->srv->sh.opts;
    int want = !c->input_done && !c->closing &&
               (c->pending == NULL || c->pending->n < o->max_batch) &&
               conn_unsent(c) < o->backpressure;

    if (want && !c->reading)
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    else if (!want && c->reading && !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

/* The pending batch may go out: queue the connection for this pass. */
static void
conn_make_ready(srv_conn *c)
{
    srv_server *s = c->srv;

    if (c->queued || c->inflight != NULL || c->pending == NULL)
        return;
    c->queued = 1;
    c->ready_next = NULL;
    *s->ready_tail = c;
    s->ready_tail = &c->ready_next;
}

/*
 * Moves the connection forward after any event: queue the pending batch
 * for this pass if none is in flight, write what is ready, close when
 * finished, and decide whether to read.
 */
static void
conn_pump(srv_conn *c)
{
    srv_server *s = c->srv;

    if (c->closing)
        return;
    conn_make_ready(c);
    conn_flush(c);
    if (conn_unsent(c) > s->sh.opts.max_output) {
        conn_close(c); /* Redis's client-output-buffer-limit */
        return;
    }
    if (c->input_done && c->inflight == NULL && c->pending == NULL &&
        !c->writing && c->out.len == 0) {
        conn_close(c);
        return;
    }
    conn_update_reading(c);
}

static srv_batch *
conn_pending(srv_conn *c)
{
    if (c->pending == NULL)
        c->pending = batch_new(c);
    return c->pending;
}

/* A protocol error: answer it after the requests before it, then close. */
static void
conn_proto_error(srv_conn *c, int rc)
{
    srv_batch *b;

    c->input_done = 1;
    if (rc == RESP_EHTTP) { /* as Redis: close without a word */
        conn_close(c);
        return;
    }
    b = conn_pending(c);
    if (b == NULL) {
        conn_close(c);
        return;
    }
    b->proto_error = strdup(rc == RESP_ENOMEM ? "out of memory"
                                              : resp_parser_errmsg(c->parser));
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    srv_conn *c = h->data;

    (void)hint;
    *buf = uv_buf_init(c->srv->readbuf, sizeof(c->srv->readbuf));
}

static void
conn_parse(srv_conn *c, const char *data, size_t len)
{
    size_t off = 0;

    while (off < len && !c->input_done) {
        resp_cmd *cmd;
        size_t used;
        int rc = resp_parse(c->parser, data + off, len - off, &used, &cmd);

        off += used;
        if (rc != 0) {
            conn_proto_error(c, rc);
            return;
        }
        if (cmd == NULL)
            continue;
        if (conn_pending(c) == NULL || batch_add(c->pending, cmd) != 0) {
            resp_cmd_free(cmd);
            conn_proto_error(c, RESP_ENOMEM);
            return;
        }
    }
}

/* An HTTP connection's input: requests into the batch; a request without
 * keep-alive is the last one read. */
static void
conn_parse_http(srv_conn *c, const char *data, size_t len)
{
    size_t off = 0;

    while (off < len && !c->input_done) {
        http_request *r;
        size_t used;
        int rc = http_parse(c->hparser, data + off, len - off, &used, &r);

        off += used;
        if (rc != 0) {
            c->input_done = 1;
            if (conn_pending(c) == NULL)
                conn_close(c);
            else
                c->pending->http_error = rc < 0 ? 500 : rc;
            return;
        }
        if (r == NULL)
            continue;
        if (conn_pending(c) == NULL || batch_add(c->pending, r) != 0) {
            http_request_free(r);
            conn_close(c);
            return;
        }
        if (!r->keep_alive)
            c->input_done = 1;
    }
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    srv_conn *c = st->data;

    if (nread < 0) { /* EOF or error: finish what was received, then close */
        c->input_done = 1;
        uv_read_stop(st);
        c->reading = 0;
        conn_pump(c);
        return;
    }
    srv_mark_awake(c->srv);
    c->last_active = uv_now(&c->srv->loop);
    /* A batch may exceed max_batch by one read's worth of requests: the
     * read is already in our buffer, and reading stops right after. */
    if (c->hparser != NULL)
        conn_parse_http(c, buf->base, (size_t)nread);
    else
        conn_parse(c, buf->base, (size_t)nread);
    conn_pump(c);
}

/* Refuses a client over max_clients, with Redis's message. */
static void
srv_refuse(srv_server *s, uv_tcp_t *tcp)
{
    static const char msg[] = "-ERR max number of clients reached\r\n";
    uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);

    uv_try_write((uv_stream_t *)tcp, &b, 1);
    sync_faa_rlx(&s->sh.rejected, 1);
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
}

enum { SRV_HTTP_MAX_HEAD = 16 * 1024 };

/* A new connection's parser: RESP, or HTTP on the HTTP listener. */
static int
conn_new_parser(srv_server *s, srv_conn *c, int http)
{
    if (http)
        return http_parser_create(SRV_HTTP_MAX_HEAD, s->sh.opts.limits.max_bulk,
                                  &c->hparser);
    return resp_parser_create(&s->sh.opts.limits, &c->parser);
}

static void
conn_drop_parsers(srv_conn *c)
{
    resp_parser_destroy(c->parser);
    http_parser_destroy(c->hparser);
}

/* "ip:port" of a socket address, or "?" */
static void
conn_format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, len, "%s:%d", ip, port);
}

/* Fills what CLIENT LIST says of a new RESP connection and lists it. */
static void
conn_register(srv_server *s, srv_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_os_fd_t fd = -1;

    c->sess.id = sync_load_rlx(&s->sh.connections);
    memset(&ss, 0, sizeof(ss));
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
    conn_format_addr(&ss, c->sess.addr, sizeof(c->sess.addr));
    len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len);
    conn_format_addr(&ss, c->sess.laddr, sizeof(c->sess.laddr));
    uv_fileno((uv_handle_t *)&c->tcp, &fd);
    c->sess.fd = fd;
    c->sess.created_ms = srv_now_ms();
    sync_store_rlx(&c->sess.last_ms, c->sess.created_ms);
    srv_client_link(&s->sh, &c->sess);
}

static void
srv_accept(uv_stream_t *ls, int status, int http)
{
    srv_server *s = ls->data;
    srv_conn *c;

    if (status < 0 || s->stopping)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL || conn_new_parser(s, c, http) != 0) {
        free(c);
        return; /* the connection stays in the backlog until memory returns */
    }
    uv_tcp_init(&s->loop, &c->tcp);
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        conn_drop_parsers(c);
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    if (sync_load_rlx(&s->sh.clients) >= s->sh.opts.max_clients) {
        conn_drop_parsers(c);
        srv_refuse(s, &c->tcp);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->srv = s;
    c->tcp.data = c;
    c->wreq.data = c;
    c->sess.authed = s->sh.opts.requirepass == NULL ||
                     s->sh.opts.requirepass[0] == '\0';
    c->last_active = uv_now(&s->loop);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    sync_faa_rlx(&s->sh.clients, 1);
    sync_faa_rlx(&s->sh.connections, 1);
    if (!http)
        conn_register(s, c);
    conn_update_reading(c);
}

static void
on_connection(uv_stream_t *ls, int status)
{
    srv_accept(ls, status, 0);
}

static void
on_http_connection(uv_stream_t *ls, int status)
{
    srv_accept(ls, status, 1);
}

/* ---- pass batching ------------------------------------------------------- */

/* The pool refused a job (closed: cannot happen while the loop runs, but
 * a refused batch must not leak): close its connections. */
static void
srv_fail_job(srv_batch *b)
{
    while (b != NULL) {
        srv_batch *n = b->next;
        srv_conn *c = b->conn;
        c->inflight = NULL;
        batch_free(b);
        conn_close(c);
        b = n;
    }
}

/* How many jobs this pass's ready requests make: one per SRV_JOB_REQS
 * requests, at least one, at most pass_jobs. A light pass (at -P 1, one
 * request per client) stays one job: a second job would cost a second
 * worker wake-up, a context switch or two, for a few microseconds of
 * engine work, and on a machine with few cores the loop and the clients
 * need that CPU. A heavy pass (pipelines) is split over the workers. */
static unsigned
srv_pass_jobs(const srv_server *s)
{
    size_t reqs = 0, jobs;

    for (const srv_conn *c = s->ready; c != NULL; c = c->ready_next)
        if (!c->closing && c->pending != NULL)
            reqs += c->pending->n + 1; /* + 1: a protocol error's reply */
    jobs = reqs / SRV_JOB_REQS;
    return jobs < 1 ? 1 : jobs > s->pass_jobs ? s->pass_jobs : (unsigned)jobs;
}

/* Sends the ready connections' batches to the pool: spread round-robin
 * over at most pass_jobs jobs, so one pass costs one queue push (and at
 * most one worker wake-up) per job instead of one per connection. */
static void
srv_submit_pass(srv_server *s)
{
    srv_batch *head[SRV_MAX_PASS_JOBS] = {0}, **tail[SRV_MAX_PASS_JOBS];
    unsigned j = 0, jobs = srv_pass_jobs(s);
    srv_conn *c = s->ready;

    s->ready = NULL;
    s->ready_tail = &s->ready;
    for (unsigned i = 0; i < jobs; i++)
        tail[i] = &head[i];
    while (c != NULL) {
        srv_conn *n = c->ready_next;
        c->queued = 0;
        if (c->closing) {
            conn_maybe_free(c);
        } else if (c->pending != NULL) {
            c->inflight = c->pending;
            c->pending = NULL;
            c->inflight->next = NULL;
            *tail[j] = c->inflight;
            tail[j] = &c->inflight->next;
            j = (j + 1) % jobs;
            conn_update_reading(c); /* the new pending batch is empty */
        }
        c = n;
    }
    for (unsigned i = 0; i < jobs && head[i] != NULL; i++)
        if (sync_pool_submit(s->sh.pool, job_run, head[i]) != 0)
            srv_fail_job(head[i]);
}

/* ---- completions, timers, signals ---------------------------------------- */

/* Takes a finished batch back from the pool (loop thread). */
static void
srv_complete(srv_server *s, srv_batch *b)
{
    srv_conn *c = b->conn;
    int shutdown = b->shutdown;

    c->inflight = NULL;
    if (b->quit || b->shutdown) {
        c->input_done = 1;
        batch_free(c->pending); /* requests after QUIT are not run */
        c->pending = NULL;
    }
    if (c->closing) {
        batch_free(b);
        conn_maybe_free(c);
    } else {
        if (c->out.len == 0) { /* take the replies without copying */
            resp_buf t = c->out;
            c->out = b->out;
            b->out = t;
        } else if (resp_add_raw(&c->out, b->out.data, b->out.len) != 0) {
            conn_close(c);
        }
        batch_recycle(c, b);
        conn_pump(c);
    }
    /* After the replies are queued, so that shutdown flushes them. */
    if (shutdown)
        srv_begin_shutdown(s);
}

/*
 * Pool side, before the sync: wait (bounded) while other writers are
 * still coming. Under steady load the clients answered by one commit
 * write again while the next one runs, so without this wait the writers
 * split into two groups that take turns, each fdatasync covering about
 * half of them. The wait ends once as many writes arrived since the last
 * commit as it answered (commit_want: they are likely the same clients
 * again), or when no new write ticket came for SRV_GATHER_GAP_NS, or after
 * half the last sync's duration, which bounds what it costs. The loop
 * only asks for it when the last commit covered more than one batch, so
 * a lone writer never waits.
 */
static void
commit_gather(srv_server *s)
{
    const struct timespec nap = {0, SRV_GATHER_NAP_NS};
    uint64_t start = sync_now_ns(), last = start, now = start;
    uint64_t budget = s->commit_ns / 2, seen = sync_load_acq(&s->tickets);

    if (budget > SRV_GATHER_MAX_NS)
        budget = SRV_GATHER_MAX_NS;
    while (seen < s->commit_want && now - start < budget &&
           now - last < SRV_GATHER_GAP_NS) {
        uint64_t t;
        nanosleep(&nap, NULL);
        now = sync_now_ns();
        t = sync_load_acq(&s->tickets);
        if (t != seen) {
            seen = t;
            last = now;
        }
    }
}

/* Pool side: one commit for every batch in commit_run, and for every
 * batch whose ticket it read before the sync. */
static void
commit_job(void *arg)
{
    srv_server *s = arg;
    uint64_t t0;

    if (s->commit_gather)
        commit_gather(s);
    s->commit_snap = sync_load_acq(&s->tickets);
    t0 = sync_now_ns();
    s->commit_rc = s->sh.store->ops->commit(s->sh.store);
    s->commit_ns = sync_now_ns() - t0;
    sync_store_rel(&s->commit_done, 1);
    uv_async_send(&s->wake);
}

/* Starts a commit covering every waiting batch, unless one is running. */
static void
commit_start(srv_server *s)
{
    if (s->commit_run != NULL || s->commit_wait == NULL)
        return;
    s->commit_run = s->commit_wait;
    s->commit_wait = NULL;
    s->commit_tail = &s->commit_wait;
    s->commit_gather = s->commit_last > 1 || s->commit_run->next != NULL;
    s->commit_want = s->durable + s->commit_last;
    sync_faa_rlx(&s->sh.commits, 1);
    if (sync_pool_submit(s->sh.pool, commit_job, s) != 0)
        commit_job(s); /* the queue is full: commit here, the loop waits */
}

/* Answers a batch a commit covered (counted for INFO). */
static void
commit_answer(srv_server *s, srv_batch *b)
{
    sync_faa_rlx(&s->sh.commit_batches, 1);
    sync_faa_rlx(&s->sh.commit_commands, b->commit_ran);
    s->commit_last++;
    srv_complete(s, b);
}

/* The commit finished: answer the batches it covered. A failed commit
 * fails those it was started for; the others wait for the next commit,
 * which fails as well (the store is poisoned). */
static void
commit_finish(srv_server *s)
{
    srv_batch *b = s->commit_run, **pp = &s->commit_wait;

    s->commit_run = NULL;
    s->commit_last = 0;
    while (b != NULL) {
        srv_batch *n = b->next;
        if (s->commit_rc != 0)
            srv_batch_commit_failed(b, s->commit_rc);
        commit_answer(s, b);
        b = n;
    }
    if (s->commit_rc != 0)
        return;
    s->durable = s->commit_snap;
    while ((b = *pp) != NULL) { /* waiting batches the sync covered too */
        if (b->ticket <= s->durable) {
            *pp = b->next;
            commit_answer(s, b);
        } else {
            pp = &b->next;
        }
    }
    s->commit_tail = pp;
}

/* A finished batch: answered now, or after a commit if it wrote (and no
 * finished commit covered its ticket already). */
static void
srv_finished(srv_server *s, srv_batch *b)
{
    if (!b->needs_commit) {
        srv_complete(s, b);
        return;
    }
    if (b->ticket <= s->durable) {
        sync_faa_rlx(&s->sh.commit_batches, 1);
        sync_faa_rlx(&s->sh.commit_commands, b->commit_ran);
        srv_complete(s, b);
        return;
    }
    b->next = NULL;
    *s->commit_tail = b;
    s->commit_tail = &b->next;
}

/* The loop is awake and will take the completion list before it polls
 * again (on_pass_prep): workers may skip their uv_async_send. */
static void
srv_mark_awake(srv_server *s)
{
    if (!s->awake_mine) {
        s->awake_mine = 1;
        sync_store_rlx(&s->loop_awake, 1);
    }
}

/* Takes the completion list. Before a poll (sleeping), an empty list also
 * clears loop_awake, in the same critical section, so that the next
 * worker to finish wakes the loop. */
static srv_batch *
srv_take_done(srv_server *s, int sleeping)
{
    srv_batch *list;

    pthread_mutex_lock(&s->done_lock);
    list = s->done;
    s->done = NULL;
    s->done_tail = &s->done;
    if (list == NULL && sleeping) {
        sync_store_rlx(&s->loop_awake, 0);
        s->awake_mine = 0;
    }
    pthread_mutex_unlock(&s->done_lock);
    return list;
}

/* Answers (or queues for a commit) the finished batches, oldest first. */
static void
srv_finish_list(srv_server *s, srv_batch *list)
{
    while (list != NULL) {
        srv_batch *n = list->next;
        srv_finished(s, list);
        list = n;
    }
}

static void
on_wake(uv_async_t *a)
{
    srv_server *s = a->data;

    srv_mark_awake(s);
    srv_finish_list(s, srv_take_done(s, 0));
    if (sync_load_acq(&s->commit_done)) {
        sync_store_rlx(&s->commit_done, 0);
        commit_finish(s);
    }
    commit_start(s);
    if (sync_load_acq(&s->stop_requested))
        srv_begin_shutdown(s);
}

/* After the poll: batches that finished meanwhile are answered first, so
 * that their connections' next batches go out with this pass. */
static void
on_pass_check(uv_check_t *h)
{
    srv_server *s = h->data;
    srv_batch *list;

    srv_mark_awake(s);
    list = srv_take_done(s, 0);
    if (list != NULL) {
        srv_finish_list(s, list);
        commit_start(s);
    }
    if (s->ready != NULL)
        srv_submit_pass(s);
}

/* Before the poll: take every completion a worker left without waking us
 * (loop_awake), until the list is found empty and the flag cleared. */
static void
on_pass_prep(uv_prepare_t *h)
{
    srv_server *s = h->data;
    srv_batch *list;

    while ((list = srv_take_done(s, 1)) != NULL) {
        srv_finish_list(s, list);
        commit_start(s);
    }
    if (s->ready != NULL)
        srv_submit_pass(s);
}

static void
on_sweep(uv_timer_t *t)
{
    srv_server *s = t->data;
    uint64_t now = uv_now(&s->loop), limit = s->sh.opts.timeout_s * 1000ull;

    for (srv_conn *c = s->conns, *n; c != NULL; c = n) {
        n = c->next;
        if (!c->closing && c->inflight == NULL && !c->writing &&
            now - c->last_active > limit)
            conn_close(c);
    }
}

static void
on_signal(uv_signal_t *h, int signum)
{
    srv_server *s = h->data;

    (void)signum;
    if (++s->signals > 1) {
        s->forced = 1;
        uv_stop(&s->loop);
        return;
    }
    srv_begin_shutdown(s);
}

/* Closes the loop's own handles; once no connection is left either, uv_run
 * returns. */
static void
srv_close_handles(srv_server *s)
{
    if (s->handles_closed)
        return;
    s->handles_closed = 1;
    if (!uv_is_closing((uv_handle_t *)&s->listener))
        uv_close((uv_handle_t *)&s->listener, NULL);
    if (!uv_is_closing((uv_handle_t *)&s->http_listener))
        uv_close((uv_handle_t *)&s->http_listener, NULL);
    uv_close((uv_handle_t *)&s->wake, NULL);
    uv_close((uv_handle_t *)&s->pass_check, NULL);
    uv_close((uv_handle_t *)&s->pass_prep, NULL);
    uv_close((uv_handle_t *)&s->sweep, NULL);
    uv_close((uv_handle_t *)&s->grace, NULL);
    if (s->sh.opts.handle_signals) {
        uv_close((uv_handle_t *)&s->sigint, NULL);
        uv_close((uv_handle_t *)&s->sigterm, NULL);
    }
}

/* The grace period is over: close whoever is left (a connection with a
 * batch on the pool is freed when the batch comes back). */
static void
on_grace(uv_timer_t *t)
{
    srv_server *s = t->data;

    for (srv_conn *c = s->conns; c != NULL; c = c->next)
        conn_close(c);
}

static void
srv_begin_shutdown(srv_server *s)
{
    if (!s->stopping) {
        s->stopping = 1;
        uv_close((uv_handle_t *)&s->listener, NULL); /* stop accepting */
        uv_close((uv_handle_t *)&s->http_listener, NULL);
        uv_timer_start(&s->grace, on_grace, s->sh.opts.shutdown_ms, 0);
        for (srv_conn *c = s->conns, *n; c != NULL; c = n) {
            n = c->next;
            c->input_done = 1;
            conn_pump(c); /* closes it now if it is idle */
        }
    }
    if (s->conns == NULL && !s->handles_closed) {
        /* Every reply is out: make the writes durable, then finish. */
        s->sh.store->ops->sync(s->sh.store);
        srv_close_handles(s);
    }
}

/* ---- public -------------------------------------------------------------- */

/* Workers: as asked (0 = online cores), plus one where the store commits
 * (group commit), since a commit task sits in fdatasync for a disk's
 * latency and must not leave the commands without a worker meanwhile. */
static unsigned
srv_cmd_threads(const srv_opts *o)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    return o->threads ? o->threads : cores > 0 ? (unsigned)cores : 1;
}

static unsigned
srv_pool_threads(const srv_opts *o, const srv_store *store)
{
    unsigned t = srv_cmd_threads(o);

    return store->ops->commit != NULL ? t + 1 : t;
}

static void
srv_defaults(srv_opts *o)
{
    if (o->host == NULL)
        o->host = "127.0.0.1";
    if (o->max_clients == 0)
        o->max_clients = SRV_DEF_CLIENTS;
    if (o->backpressure == 0)
        o->backpressure = SRV_DEF_BACKPRESSURE;
    if (o->max_output == 0)
        o->max_output = SRV_DEF_MAX_OUTPUT;
    if (o->max_batch == 0)
        o->max_batch = SRV_DEF_BATCH;
    if (o->shutdown_ms == 0)
        o->shutdown_ms = SRV_DEF_SHUTDOWN_MS;
    resp_limits_defaults(&o->limits);
}

/* Binds and listens on host:port; *bound receives the port. */
static int
srv_listen_on(srv_server *s, uv_tcp_t *tcp, int port, uv_connection_cb cb,
              int *bound, char *errbuf, size_t errlen)
{
    const char *host = s->sh.opts.host;
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    int namelen = sizeof(ss), rc;

    if (uv_ip4_addr(host, port, sin) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(errbuf, errlen, "'%s' is not an IPv4 or IPv6 address", host);
        return SRV_EINVAL;
    }
    rc = uv_tcp_bind(tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)tcp, 511, cb);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot listen on %s:%d: %s", host, port,
                 uv_strerror(rc));
        return SRV_EADDR;
    }
    uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &namelen);
    *bound = ntohs(ss.ss_family == AF_INET
                       ? sin->sin_port
                       : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

static int
srv_listen(srv_server *s, char *errbuf, size_t errlen)
{
    const srv_opts *o = &s->sh.opts;
    int rc = srv_listen_on(s, &s->listener, o->port, on_connection,
                           &s->sh.port, errbuf, errlen);

    s->sh.http_port = -1;
    if (rc == 0 && o->http)
        rc = srv_listen_on(s, &s->http_listener, o->http_port,
                           on_http_connection, &s->sh.http_port, errbuf,
                           errlen);
    return rc;
}

/* Initialises every handle of the loop (none started), so that one path
 * can close them all whatever failed later. */
static int
srv_init_handles(srv_server *s)
{
    int rc = uv_async_init(&s->loop, &s->wake, on_wake);

    uv_tcp_init(&s->loop, &s->listener);
    uv_tcp_init(&s->loop, &s->http_listener);
    s->http_listener.data = s;
    uv_timer_init(&s->loop, &s->sweep);
    uv_timer_init(&s->loop, &s->grace);
    uv_check_init(&s->loop, &s->pass_check);
    uv_prepare_init(&s->loop, &s->pass_prep);
    s->wake.data = s->listener.data = s->sweep.data = s->grace.data = s;
    s->pass_check.data = s->pass_prep.data = s;
    if (s->sh.opts.handle_signals) {
        uv_signal_init(&s->loop, &s->sigint);
        uv_signal_init(&s->loop, &s->sigterm);
        s->sigint.data = s->sigterm.data = s;
    }
    return rc == 0 ? 0 : SRV_ELOOP;
}

static int
srv_start_handles(srv_server *s)
{
    int rc = uv_check_start(&s->pass_check, on_pass_check);

    if (rc == 0)
        rc = uv_prepare_start(&s->pass_prep, on_pass_prep);
    if (rc == 0 && s->sh.opts.timeout_s > 0)
        rc = uv_timer_start(&s->sweep, on_sweep, SRV_SWEEP_MS, SRV_SWEEP_MS);
    if (rc == 0 && s->sh.opts.handle_signals) {
        rc = uv_signal_start(&s->sigint, on_signal, SIGINT);
        if (rc == 0)
            rc = uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    }
    return rc == 0 ? 0 : SRV_ELOOP;
}

static void
pool_thread_start(void *arg)
{
    srv_store *st = arg;

#ifdef SCHED_BATCH
    /* SCHED_BATCH (Linux): same share of the CPU, but a woken worker does
     * not preempt the thread that woke it. Without it, the loop's wake-up
     * of a worker handed the loop's CPU to the worker at once (measured at
     * -P 1 on 2 cores: ~0.8 involuntary switches of the loop per job), so
     * every pass cost two extra context switches; with it the worker runs
     * on an idle CPU or when the loop next waits. A failure (the policy
     * refused) leaves the default policy: nothing else changes. */
    struct sched_param sp = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
#endif
    if (st->ops->thread_start != NULL)
        st->ops->thread_start(st);
}

static void
pool_thread_stop(void *arg)
{
    srv_store *st = arg;

    if (st->ops->thread_stop != NULL)
        st->ops->thread_stop(st);
}

int
srv_create(const srv_opts *opts, srv_store *store, srv_server **out,
           char *errbuf, size_t errlen)
{
    srv_server *s = calloc(1, sizeof(*s));
    sync_pool_opts po;
    int rc;

    snprintf(errbuf, errlen, "%s", "");
    if (s == NULL)
        return SRV_ENOMEM;
    /* A peer that closes while we write must cost one connection (libuv
     * then reports EPIPE), not the process. */
    signal(SIGPIPE, SIG_IGN);
    s->sh.opts = *opts;
    srv_defaults(&s->sh.opts);
    s->sh.store = store;
    s->sh.started_ms = srv_now_ms();
    pthread_mutex_init(&s->done_lock, NULL);
    pthread_mutex_init(&s->sh.clients_lock, NULL);
    sync_store_rlx(&s->sh.last_save_ms, s->sh.started_ms);
    s->done_tail = &s->done;
    s->ready_tail = &s->ready;
    s->pass_jobs = srv_cmd_threads(opts);
    if (s->pass_jobs > SRV_MAX_PASS_JOBS)
        s->pass_jobs = SRV_MAX_PASS_JOBS;
    s->commit_tail = &s->commit_wait;
    if (uv_loop_init(&s->loop) != 0) {
        free(s);
        return SRV_ELOOP;
    }
    rc = srv_init_handles(s);
    if (rc == 0)
        rc = srv_listen(s, errbuf, errlen);
    if (rc == 0)
        rc = srv_start_handles(s);
    po = (sync_pool_opts){srv_pool_threads(opts, store), opts->queue_capacity,
                          opts->queue, pool_thread_start, pool_thread_stop,
                          store};
    if (rc == 0 && sync_pool_create(&po, &s->sh.pool) != 0) {
        snprintf(errbuf, errlen, "cannot start the thread pool");
        rc = SRV_ENOMEM;
    }
    if (rc != 0) {
        s->stopping = 1;
        srv_close_handles(s);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        pthread_mutex_destroy(&s->done_lock);
        pthread_mutex_destroy(&s->sh.clients_lock);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int
srv_port(const srv_server *s)
{
    return s->sh.port;
}

int
srv_http_port(const srv_server *s)
{
    return s->sh.http_port;
}

int
srv_run(srv_server *s)
{
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (s->forced)
        return SRV_EFORCED;
    sync_pool_shutdown(s->sh.pool);
    return 0;
}

void
srv_stop(srv_server *s)
{
    sync_store_rel(&s->stop_requested, 1);
    uv_async_send(&s->wake);
}

void
srv_destroy(srv_server *s)
{
    if (s == NULL)
        return;
    if (!s->handles_closed) { /* never ran: close what srv_create opened */
        s->stopping = 1;
        srv_close_handles(s);
        uv_run(&s->loop, UV_RUN_DEFAULT);
    }
    sync_pool_destroy(s->sh.pool);
    uv_loop_close(&s->loop);
    pthread_mutex_destroy(&s->done_lock);
    pthread_mutex_destroy(&s->sh.clients_lock);
    free(s);
}
