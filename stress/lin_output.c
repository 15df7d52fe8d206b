/*
 * stress/lin_output.c - counterexamples for people: text timeline, HTML.
 *
 * Both drawings put time on the horizontal axis as event rank (the order of
 * invocations and completions), not nanoseconds: what matters for
 * linearizability is only which events precede which, and ranks keep short
 * operations visible next to long ones.
 */
#include "stress/lincheck.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define LIN_VALUE_SHOWN 24 /* bytes of a value shown before "..." */

/* Appends a value, printable and cut, to buf. */
static void
lin_put_value(const hist *h, uint32_t id, char *buf, size_t cap)
{
    size_t len, n = strlen(buf);
    const char *s = hist_value_str(h, id, &len);

    if (id == HIST_NIL) {
        snprintf(buf + n, cap - n, "nil");
        return;
    }
    if (len > 0 && s[0] == '{' && h->model == HIST_MODEL_SET) {
        snprintf(buf + n, cap - n, "{%zu elements}",
                 (len - 1) / sizeof(uint32_t));
        return;
    }
    for (size_t i = 0; i < len && i < LIN_VALUE_SHOWN && n + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '<' && c != '>' && c != '&' &&
            c != '"')
            buf[n++] = (char)c;
        else
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
    }
    buf[n] = '\0';
    if (len > LIN_VALUE_SHOWN)
        snprintf(buf + n, cap - n, "...");
}

void
lin_describe(const hist *h, const hist_op *o, char *buf, size_t cap)
{
    size_t n;

    if (cap == 0)
        return;
    snprintf(buf, cap, "%s(", hist_fn_name(o->fn, h->model));
    if (o->fn == HIST_PUT || o->fn == HIST_APPEND || o->fn == HIST_ADD ||
        o->fn == HIST_CAS)
        lin_put_value(h, o->arg1, buf, cap);
    if (o->fn == HIST_CAS) {
        n = strlen(buf);
        snprintf(buf + n, cap - n, ", ");
        lin_put_value(h, o->arg2, buf, cap);
    }
    n = strlen(buf);
    snprintf(buf + n, cap - n, ")");
    if (o->status == HIST_ST_OK && o->fn == HIST_GET) {
        n = strlen(buf);
        snprintf(buf + n, cap - n, " -> ");
        lin_put_value(h, o->out, buf, cap);
    }
    n = strlen(buf);
    if (o->status != HIST_ST_OK)
        snprintf(buf + n, cap - n, " %s", hist_status_name(o->status));
}

/* Ranks of the invocation and completion of each op among all of them. */
typedef struct lin_span {
    size_t op;
    size_t from, to; /* ranks; to = nranks for info */
} lin_span;

static int
lin_cmp_u64p(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static size_t
lin_rank(const uint64_t *times, size_t n, uint64_t t)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (times[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Spans for ops[0..n); returns the number of distinct ranks, 0 on ENOMEM. */
static size_t
lin_spans(const hist *h, const size_t *ops, size_t n, lin_span *sp)
{
    uint64_t *t = malloc((2 * n + 1) * sizeof(*t));
    size_t m = 0, u = 0;

    if (t == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        t[m++] = h->ops[ops[i]].call;
        if (h->ops[ops[i]].ret != HIST_NEVER)
            t[m++] = h->ops[ops[i]].ret;
    }
    qsort(t, m, sizeof(*t), lin_cmp_u64p);
    for (size_t i = 0; i < m; i++)
        if (u == 0 || t[u - 1] != t[i])
            t[u++] = t[i];
    for (size_t i = 0; i < n; i++) {
        const hist_op *o = &h->ops[ops[i]];
        sp[i].op = ops[i];
        sp[i].from = lin_rank(t, u, o->call);
        sp[i].to = o->ret == HIST_NEVER ? u : lin_rank(t, u, o->ret);
    }
    free(t);
    return u + 1;
}

void
lin_print_timeline(FILE *to, const hist *h, const size_t *ops, size_t n)
{
    lin_span *sp = malloc((n + 1) * sizeof(*sp));
    size_t ranks = sp ? lin_spans(h, ops, n, sp) : 0;
    char desc[160];

    if (ranks == 0) {
        free(sp);
        return;
    }
    int wide = ranks <= 60; /* draw bars only while they fit a terminal */
    for (size_t i = 0; i < n; i++) {
        const hist_op *o = &h->ops[sp[i].op];
        lin_describe(h, o, desc, sizeof(desc));
        fprintf(to, "  p%-4" PRIu32 " ", o->proc);
        if (wide) {
            for (size_t r = 0; r < ranks; r++)
                fputs(r < sp[i].from ? " "
                      : r == sp[i].from ? "["
                      : r < sp[i].to  ? "="
                      : r == sp[i].to ? "]" : " ", to);
            fputs("  ", to);
        } else {
            fprintf(to, "[%zu..%s%zu] ", sp[i].from,
                    o->ret == HIST_NEVER ? ">" : "", sp[i].to);
        }
        if (o->line != 0)
            fprintf(to, "%s  (line %" PRIu32 ")\n", desc, o->line);
        else
            fprintf(to, "%s\n", desc);
    }
    free(sp);
}

/* ---- HTML ------------------------------------------------------------------------- */

static void
lin_html_head(FILE *to, const hist *h, const lin_result *res, size_t shown)
{
    size_t kl;
    const char *k = hist_key_str(h, res->bad_key, &kl);

    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
          "<title>casklab check: violation</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1em}"
          ".row{position:relative;height:26px;border-bottom:1px solid #eee}"
          ".lbl{position:absolute;left:0;width:60px;font:12px monospace}"
          ".op{position:absolute;height:20px;top:2px;border-radius:3px;"
          "font:11px monospace;overflow:hidden;white-space:nowrap;"
          "border:1px solid #555;box-sizing:border-box;padding-left:2px}"
          ".lin{background:#9e9}.bad{background:#f99}.info{background:#ddd}"
          ".op:hover{overflow:visible;z-index:2;background:#ffd}\n"
          "</style></head><body>\n", to);
    fprintf(to, "<h2>Not linearizable: key \"");
    for (size_t i = 0; i < kl && i < 64; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c >= 0x20 && c < 0x7f && c != '<' && c != '>' && c != '&')
            fputc(c, to);
        else
            fprintf(to, "\\x%02x", c);
    }
    fprintf(to, "\"</h2>\n<p>%zu operations on this key; the first %zu (by "
            "invocation) are drawn. Green: the longest linearizable prefix "
            "found (%zu operations; the number is the position in that "
            "linearization). Red: operations the search could not place "
            "after it. Grey: outcome unknown (info). Time runs left to right "
            "by event order. Hover a bar for details.</p>\n",
            res->nbad, shown, res->nprefix);
}

#define LIN_HTML_AFTER 40 /* operations drawn after the last placed one */

/* (op index, position in the prefix), sorted by op index for lookups. */
typedef struct lin_pos {
    size_t op, pos;
} lin_pos;

static int
lin_cmp_pos(const void *a, const void *b)
{
    const lin_pos *x = a, *y = b;

    return (x->op > y->op) - (x->op < y->op);
}

/* 1-based position of op in the longest linearizable prefix, 0 if absent. */
static size_t
lin_pos_of(const lin_pos *ps, size_t n, size_t op)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps[mid].op < op)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ps[lo].op == op ? ps[lo].pos : 0;
}

/* How many of the bad key's ops (by invocation) to draw: up to the last one
 * the prefix placed, and LIN_HTML_AFTER more, where the violation is. */
static size_t
lin_html_count(const lin_result *res, const lin_pos *ps)
{
    size_t last = 0;

    for (size_t i = 0; i < res->nbad; i++)
        if (lin_pos_of(ps, res->nprefix, res->bad_ops[i]) != 0)
            last = i + 1;
    return last + LIN_HTML_AFTER < res->nbad ? last + LIN_HTML_AFTER
                                             : res->nbad;
}

/* Spans by process, then invocation. qsort has no context argument and
 * the ops live in the history: lin_write_html sets lin_sort_h first; it is
 * thread-local, so calls on different threads do not interfere. */
static _Thread_local const hist *lin_sort_h;

static int
lin_cmp_span_proc(const void *a, const void *b)
{
    const lin_span *x = a, *y = b;
    uint32_t px = lin_sort_h->ops[x->op].proc, py = lin_sort_h->ops[y->op].proc;

    if (px != py)
        return px < py ? -1 : 1;
    return (x->from > y->from) - (x->from < y->from);
}

static void
lin_html_bar(FILE *to, const hist *h, const hist_op *o, const lin_span *sp,
             size_t pos, double px)
{
    char desc[160], tag[32] = "";

    if (pos != 0)
        snprintf(tag, sizeof(tag), "#%zu ", pos);
    lin_describe(h, o, desc, sizeof(desc));
    fprintf(to, "<div class=\"op %s\" style=\"left:%.0fpx;width:%.0fpx\" "
            "title=\"line %" PRIu32 ": %s\">%s%s</div>",
            pos ? "lin" : o->status == HIST_ST_INFO ? "info" : "bad",
            60 + px * (double)sp->from,
            px * (double)(sp->to - sp->from) + px * 0.8, o->line, desc, tag,
            desc);
}

int
lin_write_html(FILE *to, const hist *h, const lin_result *res)
{
    lin_span *sp;
    lin_pos *ps;
    size_t ranks, n;

    if (res->verdict != LIN_ILLEGAL || res->nbad == 0)
        return LIN_EINVAL;
    sp = malloc(res->nbad * sizeof(*sp));
    ps = malloc((res->nprefix + 1) * sizeof(*ps));
    if (sp == NULL || ps == NULL) {
        free(sp);
        free(ps);
        return LIN_ENOMEM;
    }
    for (size_t i = 0; i < res->nprefix; i++)
        ps[i] = (lin_pos){res->prefix[i], i + 1};
    qsort(ps, res->nprefix, sizeof(*ps), lin_cmp_pos);
    n = lin_html_count(res, ps);
    if ((ranks = lin_spans(h, res->bad_ops, n, sp)) == 0) {
        free(sp);
        free(ps);
        return LIN_ENOMEM;
    }
    lin_html_head(to, h, res, n);
    double px = 14.0; /* pixels per event rank */
    fprintf(to, "<div style=\"position:relative;width:%.0fpx\">\n",
            60 + px * (double)ranks + 200);
    /* one row per process: spans sorted by process, then time */
    lin_sort_h = h;
    qsort(sp, n, sizeof(*sp), lin_cmp_span_proc);
    for (size_t i = 0; i < n; i++) {
        const hist_op *o = &h->ops[sp[i].op];
        if (i == 0 || h->ops[sp[i - 1].op].proc != o->proc)
            fprintf(to, "%s<div class=\"row\"><span class=\"lbl\">p%" PRIu32
                    "</span>", i ? "</div>\n" : "", o->proc);
        lin_html_bar(to, h, o, &sp[i], lin_pos_of(ps, res->nprefix, sp[i].op),
                     px);
    }
    fputs("</div>\n", to);
    fputs("</div>\n</body></html>\n", to);
    free(sp);
    free(ps);
    return ferror(to) ? LIN_EIO : 0;
}
