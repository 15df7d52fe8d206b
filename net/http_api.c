/*
 * net/http_api.c - the HTTP API's handlers, run by pool workers like the
 * RESP commands (net/commands.c), against the same store interface.
 *
 *   GET    /v1/kv/{key}     200 with the raw value, 404 if absent
 *   PUT    /v1/kv/{key}     204; the body is the value (binary-safe)
 *   DELETE /v1/kv/{key}     204, 404 if absent
 *   GET    /v1/status       200 JSON: keys, bytes, files, merges, keydir,
 *                           thread pool, clients
 *   POST   /v1/admin/merge  200 JSON once the store's merge returns
 *   GET    /metrics         200 Prometheus text exposition format
 *
 * {key} is percent-decoded (so any byte can be named) and must be 1 byte to
 * 64 KiB. With --requirepass every request needs "Authorization: Bearer
 * PASS" (else 401). Known paths with another method get 405.
 */
#include "net/server_internal.h"

#include "sync/atomic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_KV "/v1/kv/"
#define HTTP_KEY_MAX 65536u

void
srv_http_respond(resp_buf *out, int status, const char *ctype,
                 const char *body, size_t len, int keep_alive)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
                     status, http_reason(status), ctype, len,
                     keep_alive ? "keep-alive" : "close");

    (void)resp_add_raw(out, head, (size_t)n);
    (void)resp_add_raw(out, body, len);
}

static void
http_text(srv_batch *b, const http_request *r, int status)
{
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "%s\n", http_reason(status));

    srv_http_respond(&b->out, status, "text/plain", msg, (size_t)n,
                     r->keep_alive);
}

void
srv_http_store_error(srv_batch *b, const http_request *r, int rc)
{
    int status = rc == SRV_EIO       ? 503
               : rc == SRV_ENOSPC    ? 507
               : rc == SRV_EREADONLY ? 403
                                     : 500;
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "%s: %s\n", http_reason(status),
                     srv_strerror(rc));

    if (n < 0 || (size_t)n >= sizeof(msg))
        n = (int)sizeof(msg) - 1;
    srv_http_respond(&b->out, status, "text/plain", msg, (size_t)n,
                     r->keep_alive);
}

static int
http_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 32) >= 'a' && (c | 32) <= 'f')
        return (c | 32) - 'a' + 10;
    return -1;
}

/* Percent-decodes s into a new buffer; -1 on a bad escape. */
static int
http_unescape(const char *s, char **out, size_t *len)
{
    size_t n = strlen(s), w = 0;
    char *d = malloc(n + 1);

    if (d == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[w++] = s[i];
            continue;
        }
        if (i + 2 >= n || http_hex(s[i + 1]) < 0 || http_hex(s[i + 2]) < 0) {
            free(d);
            return -1;
        }
        d[w++] = (char)(http_hex(s[i + 1]) * 16 + http_hex(s[i + 2]));
        i += 2;
    }
    *out = d;
    *len = w;
    return 0;
}

static void
http_kv(srv_batch *b, const http_request *r)
{
    srv_store *st = b->sh->store;
    srv_set_opts plain = {0};
    char *key = NULL, *val;
    size_t klen = 0, vlen;
    int rc;

    if (http_unescape(r->target + strlen(HTTP_KV), &key, &klen) != 0 ||
        klen == 0 || klen > HTTP_KEY_MAX) {
        free(key);
        http_text(b, r, 400);
        return;
    }
    if (strcmp(r->method, "GET") == 0) {
        rc = st->ops->get(st, key, klen, &val, &vlen);
        if (rc == 0) {
            srv_http_respond(&b->out, 200, "application/octet-stream", val,
                             vlen, r->keep_alive);
            free(val);
        }
    } else if (strcmp(r->method, "PUT") == 0) {
        rc = st->ops->set(st, key, klen, r->body, r->body_len, &plain);
    } else if (strcmp(r->method, "DELETE") == 0) {
        rc = st->ops->del(st, key, klen);
    } else {
        free(key);
        http_text(b, r, 405);
        return;
    }
    free(key);
    if (rc == SRV_ENOTFOUND)
        http_text(b, r, 404);
    else if (rc != 0)
        srv_http_store_error(b, r, rc);
    else if (strcmp(r->method, "GET") != 0)
        srv_http_respond(&b->out, 204, "text/plain", "", 0, r->keep_alive);
}

static void
http_status(srv_batch *b, const http_request *r)
{
    srv_shared *sh = b->sh;
    srv_store_stats ss;
    sync_pool_stats ps;
    char body[1024];
    int n;

    sh->store->ops->stats(sh->store, &ss);
    sync_pool_stats_get(sh->pool, &ps);
    n = snprintf(body, sizeof(body),
                 "{\"keys\":%llu,\"bytes\":%llu,\"files\":%llu,"
                 "\"merges\":%llu,\"backend\":\"%s\",\"keydir\":\"%s\","
                 "\"index_bytes\":%llu,\"pool\":{\"threads\":%u,\"queue\":\"%s\",\"submitted\":%llu,"
                 "\"completed\":%llu},\"clients\":%llu,\"commands\":%llu}\n",
                 (unsigned long long)ss.keys, (unsigned long long)ss.bytes,
                 (unsigned long long)ss.files, (unsigned long long)ss.merges,
                 ss.backend, ss.keydir, (unsigned long long)ss.index_bytes,
                 ps.threads,
                 sync_queue_kind_name(ps.queue),
                 (unsigned long long)ps.submitted,
                 (unsigned long long)ps.completed,
                 (unsigned long long)sync_load_rlx(&sh->clients),
                 (unsigned long long)sync_load_rlx(&sh->commands));
    srv_http_respond(&b->out, 200, "application/json", body,
                     n < (int)sizeof(body) ? (size_t)n : sizeof(body) - 1,
                     r->keep_alive);
}

static void
http_metrics(srv_batch *b, const http_request *r)
{
    srv_shared *sh = b->sh;
    srv_store_stats ss;
    sync_pool_stats ps;
    char body[1536];
    int n;

    sh->store->ops->stats(sh->store, &ss);
    sync_pool_stats_get(sh->pool, &ps);
    n = snprintf(body, sizeof(body),
                 "# HELP casklab_keys Live keys in the store.\n"
                 "# TYPE casklab_keys gauge\ncasklab_keys %llu\n"
                 "# HELP casklab_bytes Bytes of keys and values held.\n"
                 "# TYPE casklab_bytes gauge\ncasklab_bytes %llu\n"
                 "# HELP casklab_files Data files of the store.\n"
                 "# TYPE casklab_files gauge\ncasklab_files %llu\n"
                 "# HELP casklab_index_bytes Memory of the key index.\n"
                 "# TYPE casklab_index_bytes gauge\n"
                 "casklab_index_bytes{keydir=\"%s\"} %llu\n"
                 "# HELP casklab_merges_total Merges completed.\n"
                 "# TYPE casklab_merges_total counter\ncasklab_merges_total %llu\n"
                 "# HELP casklab_connected_clients Open connections.\n"
                 "# TYPE casklab_connected_clients gauge\n"
                 "casklab_connected_clients %llu\n"
                 "# HELP casklab_commands_total Requests processed.\n"
                 "# TYPE casklab_commands_total counter\n"
                 "casklab_commands_total %llu\n"
                 "# HELP casklab_pool_tasks_total Pool tasks completed.\n"
                 "# TYPE casklab_pool_tasks_total counter\n"
                 "casklab_pool_tasks_total{queue=\"%s\"} %llu\n",
                 (unsigned long long)ss.keys, (unsigned long long)ss.bytes,
                 (unsigned long long)ss.files, ss.keydir,
                 (unsigned long long)ss.index_bytes,
                 (unsigned long long)ss.merges,
                 (unsigned long long)sync_load_rlx(&sh->clients),
                 (unsigned long long)sync_load_rlx(&sh->commands),
                 sync_queue_kind_name(ps.queue),
                 (unsigned long long)ps.completed);
    srv_http_respond(&b->out, 200, "text/plain; version=0.0.4", body,
                     n < (int)sizeof(body) ? (size_t)n : sizeof(body) - 1,
                     r->keep_alive);
}

static void
http_merge(srv_batch *b, const http_request *r)
{
    int rc = b->sh->store->ops->merge(b->sh->store);
    char body[256]; /* the longest srv_strerror fits */
    int n = snprintf(body, sizeof(body), "{\"merged\":%s,\"error\":\"%s\"}\n",
                     rc == 0 ? "true" : "false", rc == 0 ? "" : srv_strerror(rc));

    srv_http_respond(&b->out, rc == 0 ? 200 : rc == SRV_EREADONLY ? 403 : 500,
                     "application/json", body,
                     (size_t)n, r->keep_alive);
}

/* Bearer-token check against --requirepass, without an early exit. */
static int
http_authorized(const srv_batch *b, const http_request *r)
{
    const char *pass = b->sh->opts.requirepass;
    const char *given;
    unsigned char diff;
    size_t plen, glen;

    if (pass == NULL || pass[0] == '\0')
        return 1;
    if (r->auth == NULL || strncmp(r->auth, "Bearer ", 7) != 0)
        return 0;
    given = r->auth + 7;
    plen = strlen(pass);
    glen = strlen(given);
    diff = glen != plen;
    for (size_t i = 0; i < plen; i++)
        diff |= (unsigned char)(pass[i] ^ (i < glen ? given[i] : 0));
    return diff == 0;
}

void
srv_http_exec(srv_batch *b, const http_request *r)
{
    const char *t = r->target;
    int get = strcmp(r->method, "GET") == 0;

    if (!http_authorized(b, r))
        http_text(b, r, 401);
    else if (strncmp(t, HTTP_KV, strlen(HTTP_KV)) == 0)
        http_kv(b, r);
    else if (strcmp(t, "/v1/status") == 0)
        get ? http_status(b, r) : http_text(b, r, 405);
    else if (strcmp(t, "/metrics") == 0)
        get ? http_metrics(b, r) : http_text(b, r, 405);
    else if (strcmp(t, "/v1/admin/merge") == 0)
        strcmp(r->method, "POST") == 0 ? http_merge(b, r) : http_text(b, r, 405);
    else
        http_text(b, r, 404);
}
