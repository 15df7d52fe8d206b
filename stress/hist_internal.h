/*
 * stress/hist_internal.h - helpers shared by the history parsers (private to
 * stress/).
 *
 * Every parser walks the input as (pointer, length) pairs, never as C
 * strings, so NUL bytes and unterminated last lines are ordinary input.
 */
#ifndef STRESS_HIST_INTERNAL_H
#define STRESS_HIST_INTERNAL_H

#include "stress/history.h"

#include <stdarg.h>

/* One line of input: [p, p + len), and its 1-based number. */
typedef struct hist_line {
    const char *p;
    size_t len;
    size_t no;
} hist_line;

/* Line iterator over a buffer. */
typedef struct hist_lines {
    const char *buf;
    size_t len, pos, no;
} hist_lines;

void hist_lines_init(hist_lines *it, const char *buf, size_t len);
/* The next line without its '\n' (and '\r'); 0 at the end of the input. */
int hist_lines_next(hist_lines *it, hist_line *out);

/* Fills err (line, printf message) and returns HIST_EPARSE. */
int hist_fail(hist_error *err, size_t line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Checks that every op's function is allowed in h->model and that times
 * are ordered; names the offending line. */
int hist_validate(const hist *h, hist_error *err);

/* The foreign formats (stress/hist_foreign.c): buf holds the whole input. */
int hist_parse_edn(hist *h, const char *buf, size_t len, hist_error *err);
int hist_parse_jepsen(hist *h, const char *buf, size_t len, hist_error *err);
/* True if the input looks like a Jepsen log (an "jepsen.util - " line). */
int hist_looks_jepsen(const char *buf, size_t len);

/* Interns a set value: n element value ids, sorted and deduplicated in
 * place, stored as a uint32 array. */
int hist_set_value(hist *h, uint32_t *elems, size_t n, uint32_t *id);

#endif /* STRESS_HIST_INTERNAL_H */
