/*
 * net/server_internal.h - what the loop side (net/server.c) and the worker
 * side (net/commands.c) of the server share. Private to net/.
 *
 * Ownership: a batch (srv_batch) belongs to the loop thread until it is
 * submitted, to exactly one worker while it runs, and to the loop again
 * once it is on the completion list; the pool queue and the completion
 * mutex order these hand-offs. A connection's session is touched only by
 * its batch in flight (at most one), so it needs no lock.
 */
#ifndef NET_SERVER_INTERNAL_H
#define NET_SERVER_INTERNAL_H

#include "net/http.h"
#include "net/resp.h"
#include "net/server.h"
#include "net/store.h"
#include "sync/pool.h"

#include <pthread.h>
#include <stdint.h>

enum { SRV_ADDR_LEN = 64 };

/*
 * Per-connection state the commands keep (worker side). A RESP
 * connection's session is also on the server's client list (srv_shared,
 * CLIENT LIST): the loop fills id, addr, laddr, fd and created_ms before
 * the connection's first batch and links it in; from then on name and the
 * lib_* strings change only under clients_lock, and last_ms and last_cmd
 * are atomics, because any worker may read them for CLIENT LIST.
 */
typedef struct srv_session {
    int authed;
    srv_keys scan;  /* the SCAN snapshot taken at cursor 0 */
    int scan_valid;
    uint64_t id;                 /* CLIENT ID: 1, 2, ... in accept order */
    char addr[SRV_ADDR_LEN];     /* the peer, "ip:port" */
    char laddr[SRV_ADDR_LEN];    /* our end */
    int fd;
    int64_t created_ms;
    char *name, *lib_name, *lib_ver; /* NULL: not set */
    _Atomic int64_t last_ms;            /* the last batch began */
    const char *_Atomic last_cmd;       /* the last command's name */
    struct srv_session *prev, *next;    /* on the client list */
    int listed;
} srv_session;

/* Read-only to workers after srv_create, except the atomic counters. */
typedef struct srv_shared {
    srv_store *store;
    sync_pool *pool;
    srv_opts opts;
    int port, http_port;
    int64_t started_ms;
    _Atomic uint64_t commands;    /* processed */
    _Atomic uint64_t connections; /* accepted, ever */
    _Atomic uint64_t clients;     /* connected now */
    _Atomic uint64_t rejected;    /* refused at max_clients */
    /* Group commit (sync=always): commits started, the batches and the
     * commands they covered; commands / commits is the writes one
     * fdatasync makes durable. */
    _Atomic uint64_t commits, commit_batches, commit_commands;
    /* The RESP connections' sessions (CLIENT LIST); see srv_session. */
    pthread_mutex_t clients_lock;
    srv_session *client_list;
    _Atomic int64_t last_save_ms; /* LASTSAVE: the last SAVE, or start */
} srv_shared;

typedef struct srv_batch {
    struct srv_batch *next; /* on the completion list */
    srv_shared *sh;
    void *conn;             /* the loop side's connection */
    srv_session *sess;
    resp_cmd **cmds;
    size_t n, cap;
    char *proto_error;      /* a protocol error to answer after cmds */
    int http;               /* an HTTP connection's batch: reqs, not cmds */
    http_request **reqs;
    int http_error;         /* an HTTP status to answer after reqs */
    resp_buf out;           /* the replies */
    int quit, shutdown;     /* QUIT or SHUTDOWN was executed */
    /* Group commit (store with commit): the batch wrote, so its replies
     * wait for a commit; they are out[commit_start..], one per command of
     * the commit_ran that ran. */
    int needs_commit;
    size_t commit_start, commit_ran;
    uint64_t ticket; /* its write ticket (see net/server.c), if it wrote */
} srv_batch;

/* Runs the batch's commands in order into b->out (worker side). */
void srv_exec_batch(srv_batch *b);

/* A commit covering the batch failed with rc (SRV_EIO or SRV_ENOSPC, as
 * commit() returns): its replies become that error (loop side). */
void srv_batch_commit_failed(srv_batch *b, int rc);

/* The HTTP API (net/http_api.c): answers one request into b->out. */
void srv_http_exec(srv_batch *b, const http_request *r);
/* Answers r with the HTTP status for store error rc (503 I/O, 507 full
 * disk, 403 read-only, else 500) and a body that says what failed. */
void srv_http_store_error(srv_batch *b, const http_request *r, int rc);

/* Appends a whole HTTP/1.1 response. */
void srv_http_respond(resp_buf *out, int status, const char *ctype,
                      const char *body, size_t len, int keep_alive);

/* Frees what the session holds. */
void srv_session_clear(srv_session *s);

/* Puts a RESP connection's session on the client list, and takes it off
 * (and frees its strings): loop side, at accept and at free. */
void srv_client_link(srv_shared *sh, srv_session *s);
void srv_client_unlink(srv_shared *sh, srv_session *s);

/* Redis-style glob match (* ? [a-z] [^x] \x) over binary strings. */
int srv_glob(const char *pat, size_t plen, const char *s, size_t slen);

#endif /* NET_SERVER_INTERNAL_H */
