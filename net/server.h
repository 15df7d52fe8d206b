/*
 * net/server.h - `casklab serve`: a Redis-protocol (RESP2) server on one
 * libuv event loop, with commands executed on our thread pool (sync/pool.h)
 * against a store behind net/store.h.
 *
 * Model: the loop thread accepts, reads and parses (net/resp.h), and
 * writes; it never touches the store. Requests parsed from one connection
 * are gathered into a batch, and each connection has at most one batch on
 * the pool at a time: a worker runs the batch's commands in order and
 * appends their replies to the batch's buffer, then hands the batch back
 * to the loop (a completion list plus uv_async_send). So a connection's
 * commands execute, and are answered, in the order sent, while pipelined
 * requests still travel to the pool many at a time, and different
 * connections run in parallel.
 *
 * Pass batching: batches do not go to the pool one by one. The loop first
 * handles every event of a pass (all readable connections, all finished
 * jobs), then sends the batches that became ready as at most one job per
 * command worker, each job a chain of batches of different connections;
 * a worker runs its job's batches in turn and hands the whole chain back
 * with one uv_async_send. With many clients a queue push, a worker
 * wake-up and a loop wake-up are thus paid once per pass, not once per
 * request. A worker that finishes while the loop is awake skips the
 * uv_async_send (the loop takes the list before it polls again), and
 * workers run under SCHED_BATCH where Linux has it, so that waking one
 * does not preempt the loop (net/server.c, pool_thread_start).
 *
 * Back-pressure: a connection stops being read while its next batch is full
 * or its unsent replies exceed the back-pressure mark, and resumes once the
 * writes drain. A client whose unsent replies exceed max_output is closed.
 *
 * Limits and bad input (as Redis): bulk, argument-count, inline-line and
 * request-size limits of the parser; a protocol error is answered with
 * "-ERR Protocol error: ..." after the replies before it, and the
 * connection is closed; an HTTP request is closed without a reply; the
 * max_clients+1-th client gets "-ERR max number of clients reached" and is
 * closed; idle clients are closed after timeout seconds.
 *
 * HTTP API (opts.http): a second listener on the same loop speaks HTTP/1.1
 * (net/http.h, net/http_api.c): GET/PUT/DELETE /v1/kv/{key} with raw bodies,
 * GET /v1/status (JSON), POST /v1/admin/merge, GET /metrics (Prometheus
 * text). Its requests take the same path as RESP requests: batches on the
 * pool, answered in order per connection, with keep-alive and pipelining.
 *
 * Shutdown: srv_stop (any thread), SIGINT/SIGTERM when handle_signals, or
 * the SHUTDOWN command start a graceful shutdown: stop accepting and
 * reading, finish every request already received, flush the replies,
 * sync the store, close. Clients that do not take their replies within
 * shutdown_ms are closed anyway, so a stalled client cannot hold the
 * server up. A second signal stops at once (srv_run returns
 * SRV_EFORCED and the caller must exit without srv_destroy, since workers
 * may still be running).
 */
#ifndef NET_SERVER_H
#define NET_SERVER_H

#include "net/resp.h"
#include "net/store.h"
#include "sync/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct srv_opts {
    const char *host;        /* address to bind; NULL = "127.0.0.1" */
    int port;                /* 0 = an ephemeral port (see srv_port) */
    unsigned threads;        /* pool workers; 0 = online cores (one more
                                where the store commits: --sync always) */
    sync_queue_kind queue;   /* the pool's queue */
    size_t queue_capacity;   /* 0 = 4096 batches */
    unsigned max_clients;    /* 0 = 10000 */
    unsigned timeout_s;      /* idle timeout; 0 = never */
    size_t backpressure;     /* unsent bytes that pause reading; 0 = 1 MiB */
    size_t max_output;       /* unsent bytes that close; 0 = 256 MiB */
    size_t max_batch;        /* requests per batch; 0 = 1024 */
    resp_limits limits;      /* parser limits; zeros = Redis defaults */
    unsigned shutdown_ms;    /* graceful shutdown waits this long for
                                clients to take their replies; 0 = 10 s */
    const char *requirepass; /* NULL or "" = no AUTH required */
    int handle_signals;      /* catch SIGINT and SIGTERM (the CLI does) */
    int http;                /* also serve the HTTP API ... */
    int http_port;           /* ... on this port (0 = ephemeral) */
} srv_opts;

typedef struct srv_server srv_server;

/*
 * Binds and listens, starts the pool. The store stays the caller's (it
 * must outlive the server). Returns 0, SRV_EINVAL, SRV_ENOMEM, SRV_EADDR
 * (with a message in errbuf) or SRV_ELOOP.
 */
int srv_create(const srv_opts *opts, srv_store *store, srv_server **out,
               char *errbuf, size_t errlen);

/* The TCP port listened on (useful after port 0). */
int srv_port(const srv_server *s);

/* The HTTP API's port, or -1 if it is off. */
int srv_http_port(const srv_server *s);

/* Runs the loop on the calling thread until shutdown completes. Returns 0,
 * or SRV_EFORCED after a second signal. */
int srv_run(srv_server *s);

/* Starts a graceful shutdown; callable from any thread between srv_create
 * and the return of srv_run. */
void srv_stop(srv_server *s);

/* Frees a server whose srv_run returned 0 (or that never ran). */
void srv_destroy(srv_server *s);

#ifdef __cplusplus
}
#endif

#endif /* NET_SERVER_H */
