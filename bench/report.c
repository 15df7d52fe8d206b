/*
 * bench/report.c - CSV and JSON writers and the CSV reader (bench/report.h).
 *
 * One column table drives the CSV header, CSV rows, JSON objects and the
 * reader, so the three cannot drift apart: a column added here appears
 * everywhere with the same name.
 */
#include "bench/report.h"
#include "bench/bench.h"
#include "casklab_commit.h" /* generated: CASKLAB_BUILD_COMMIT */

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

enum bench_col_type { COL_STR, COL_U64, COL_U32, COL_UNS, COL_DBL, COL_I64,
                      COL_DIST, COL_OVER };

typedef struct bench_col {
    const char *name;
    enum bench_col_type type;
    size_t off, size;
} bench_col;

#define COL(n, t, f) {n, t, offsetof(bench_row, f), sizeof(((bench_row *)0)->f)}

static const bench_col bench_cols[] = {
    COL("target", COL_STR, target),
    COL("kind", COL_STR, kind),
    COL("workload", COL_STR, workload),
    COL("dist", COL_DIST, dist),
    COL("theta", COL_DBL, theta),
    COL("keys", COL_U64, keys),
    COL("key_size", COL_U32, key_size),
    COL("value_size", COL_U32, value_size),
    COL("threads", COL_UNS, threads),
    COL("cores", COL_UNS, cores),
    COL("oversubscribed", COL_OVER, threads),
    COL("reps", COL_UNS, reps),
    COL("ops_per_s_median", COL_DBL, ops_med),
    COL("ops_per_s_min", COL_DBL, ops_min),
    COL("ops_per_s_max", COL_DBL, ops_max),
    COL("ops", COL_U64, ops),
    COL("lat_p50_ns", COL_U64, lat_ns[0]),
    COL("lat_p90_ns", COL_U64, lat_ns[1]),
    COL("lat_p99_ns", COL_U64, lat_ns[2]),
    COL("lat_p999_ns", COL_U64, lat_ns[3]),
    COL("lat_p9999_ns", COL_U64, lat_ns[4]),
    COL("lat_max_ns", COL_U64, lat_ns[5]),
    COL("lat_mean_ns", COL_DBL, lat_mean_ns),
    COL("disk_bytes", COL_I64, disk_bytes),
    COL("disk_alloc_bytes", COL_I64, disk_alloc_bytes),
    COL("mem_bytes_per_key", COL_DBL, mem_per_key),
    COL("mem_source", COL_STR, mem_source),
    COL("syncs_per_s", COL_DBL, syncs_per_s),
    COL("errors", COL_U64, errors),
};

#define BENCH_NCOLS (sizeof(bench_cols) / sizeof(bench_cols[0]))

/* ---- metadata ----------------------------------------------------------------- */

void
bench_meta_set(bench_meta *m, const char *key, const char *val)
{
    size_t i = 0;

    while (i < m->n && strcmp(m->key[i], key) != 0)
        i++;
    if (i == BENCH_META_MAX)
        return;
    snprintf(m->key[i], sizeof(m->key[i]), "%s", key);
    snprintf(m->val[i], sizeof(m->val[i]), "%s", val ? val : "");
    /* One line per field in every format: newlines become spaces. */
    for (char *c = m->val[i]; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (i == m->n)
        m->n++;
}

const char *
bench_meta_get(const bench_meta *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->key[i], key) == 0)
            return m->val[i];
    return NULL;
}

static void
bench_meta_cpu(bench_meta *m)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512], *colon;

    bench_meta_set(m, "cpu", "unknown");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "model name", 10) == 0 &&
            (colon = strchr(line, ':')) != NULL) {
            colon[strcspn(colon, "\n")] = '\0';
            bench_meta_set(m, "cpu", colon + 1 + (colon[1] == ' '));
            break;
        }
    }
    fclose(f);
}

/* argv joined, each word single-quoted when it holds a shell character. */
static void
bench_meta_command(bench_meta *m, int argc, char **argv)
{
    char buf[512];
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < argc && len < sizeof(buf); i++) {
        int quote = argv[i][0] == '\0' ||
                    strpbrk(argv[i], " \t'\"$`\\*?[]{}()<>|&;#~") != NULL;
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s%s%s",
                                i ? " " : "", quote ? "'" : "", argv[i],
                                quote ? "'" : "");
    }
    bench_meta_set(m, "command", buf);
}

const char *
bench_build_commit(void)
{
    return CASKLAB_BUILD_COMMIT;
}

void
bench_meta_collect(bench_meta *m, int argc, char **argv)
{
    struct utsname u;
    char buf[512];
    time_t now = time(NULL);
    struct tm tm;

    memset(m, 0, sizeof(*m));
    bench_meta_set(m, "commit", bench_build_commit());
    bench_meta_set(m, "compiler", "cc " __VERSION__);
    snprintf(buf, sizeof(buf), "%s (%s)%s%s", CASKLAB_CFLAGS,
             CASKLAB_BUILD_TYPE, CASKLAB_SANITIZE_STR[0] ? " sanitize=" : "",
             CASKLAB_SANITIZE_STR);
    bench_meta_set(m, "cflags", buf);
    bench_meta_cpu(m);
    snprintf(buf, sizeof(buf), "%u", bench_ncores());
    bench_meta_set(m, "cores", buf);
    if (uname(&u) == 0) {
        snprintf(buf, sizeof(buf), "%s %s %s", u.sysname, u.release,
                 u.machine);
        bench_meta_set(m, "kernel", buf);
        bench_meta_set(m, "host", u.nodename);
    }
    gmtime_r(&now, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    bench_meta_set(m, "date", buf);
    bench_meta_command(m, argc, argv);
}

/* ---- writers ------------------------------------------------------------------ */

void
bench_csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void
bench_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* One cell as text: numbers in C locale, strings raw (callers escape). */
static void
bench_cell(const bench_row *r, const bench_col *c, char *buf, size_t cap)
{
    const char *p = (const char *)r + c->off;

    switch (c->type) {
    case COL_STR:
        snprintf(buf, cap, "%s", p);
        break;
    case COL_U64:
        snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case COL_U32:
        snprintf(buf, cap, "%u", *(const uint32_t *)p);
        break;
    case COL_UNS:
        snprintf(buf, cap, "%u", *(const unsigned *)p);
        break;
    case COL_I64:
        snprintf(buf, cap, "%lld", (long long)*(const int64_t *)p);
        break;
    case COL_DBL: {
        double d = *(const double *)p;
        snprintf(buf, cap, isfinite(d) ? "%.6g" : "0", d);
        break;
    }
    case COL_DIST:
        snprintf(buf, cap, "%s", wl_dist_name(r->dist));
        break;
    case COL_OVER:
        snprintf(buf, cap, "%d", r->threads > r->cores);
        break;
    }
}

static int
bench_is_text(const bench_col *c)
{
    return c->type == COL_STR || c->type == COL_DIST;
}

int
bench_csv_write(FILE *f, const bench_meta *m, const bench_row *rows,
                size_t n)
{
    char cell[128];

    fputs("# casklab bench results\n", f);
    for (size_t i = 0; i < m->n; i++)
        fprintf(f, "# %s: %s\n", m->key[i], m->val[i]);
    for (size_t c = 0; c < BENCH_NCOLS; c++)
        fprintf(f, "%s%s", c ? "," : "", bench_cols[c].name);
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < BENCH_NCOLS; c++) {
            if (c)
                fputc(',', f);
            bench_cell(&rows[i], &bench_cols[c], cell, sizeof(cell));
            bench_csv_field(f, cell);
        }
        fputc('\n', f);
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

int
bench_json_write(FILE *f, const bench_meta *m, const bench_row *rows,
                 size_t n)
{
    char cell[128];

    fputs("{\n  \"metadata\": {", f);
    for (size_t i = 0; i < m->n; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        bench_json_string(f, m->key[i]);
        fputs(": ", f);
        bench_json_string(f, m->val[i]);
    }
    fputs("\n  },\n  \"rows\": [", f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",\n    {" : "\n    {", f);
        for (size_t c = 0; c < BENCH_NCOLS; c++) {
            fputs(c ? ", " : "", f);
            bench_json_string(f, bench_cols[c].name);
            fputs(": ", f);
            bench_cell(&rows[i], &bench_cols[c], cell, sizeof(cell));
            if (bench_is_text(&bench_cols[c]))
                bench_json_string(f, cell);
            else
                fputs(cell, f);
        }
        fputc('}', f);
    }
    fputs("\n  ]\n}\n", f);
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

/* ---- reader ------------------------------------------------------------------- */

/* Appends c to the record buffer; -1 when full. */
static int
bench_put_char(char *buf, size_t cap, size_t *len, int c)
{
    if (*len + 1 >= cap)
        return -1;
    buf[(*len)++] = (char)c;
    return 0;
}

int
bench_csv_read_record(FILE *f, char *buf, size_t cap, char **fields, int max)
{
    size_t len = 0;
    int n = 0, c, quoted = 0, any = 0;

    if (cap == 0 || max < 1)
        return -1;
    fields[n++] = buf;
    while ((c = fgetc(f)) != EOF) {
        any = 1;
        if (quoted) {
            if (c == '"') {
                int d = fgetc(f);
                if (d != '"') {
                    quoted = 0;
                    if (d != EOF)
                        ungetc(d, f);
                    continue;
                }
            }
            if (bench_put_char(buf, cap, &len, c))
                return -1;
        } else if (c == '"') {
            quoted = 1;
        } else if (c == ',') {
            if (n == max || bench_put_char(buf, cap, &len, '\0'))
                return -1;
            fields[n++] = buf + len;
        } else if (c == '\n') {
            break;
        } else if (c != '\r' && bench_put_char(buf, cap, &len, c)) {
            return -1;
        }
    }
    if (quoted)
        return -1; /* end of file inside quotes */
    buf[len] = '\0';
    return any ? n : 0;
}

/* Stores text s into column c of row r; -1 if it does not parse. */
static int
bench_parse_cell(bench_row *r, const bench_col *c, const char *s)
{
    char *p = (char *)r + c->off, *end;
    wl_dist d;

    errno = 0;
    switch (c->type) {
    case COL_STR:
        snprintf(p, c->size, "%s", s);
        return 0;
    case COL_DIST:
        if (wl_parse_dist(s, &d) != 0)
            return -1;
        r->dist = d;
        return 0;
    case COL_OVER:
        return 0; /* derived from threads and cores */
    case COL_DBL:
        *(double *)p = strtod(s, &end);
        break;
    case COL_I64:
        *(int64_t *)p = strtoll(s, &end, 10);
        break;
    default: {
        unsigned long long v = strtoull(s, &end, 10);
        if (c->type == COL_U64)
            *(uint64_t *)p = v;
        else if (c->type == COL_U32)
            *(uint32_t *)p = (uint32_t)v;
        else
            *(unsigned *)p = (unsigned)v;
    }
    }
    return end == s || *end != '\0' || errno != 0 ? -1 : 0;
}

/* Reads "# key: value" lines; leaves f at the header line. */
static void
bench_read_meta(FILE *f, bench_meta *m, unsigned *line)
{
    char buf[1024];
    int c;

    while ((c = fgetc(f)) == '#') {
        (*line)++;
        if (fgets(buf, sizeof(buf), f) == NULL)
            return;
        buf[strcspn(buf, "\r\n")] = '\0';
        char *colon = strstr(buf, ": ");
        if (colon != NULL) {
            *colon = '\0';
            bench_meta_set(m, buf + (buf[0] == ' '), colon + 2);
        }
    }
    if (c != EOF)
        ungetc(c, f);
}

/* Maps header names to columns; unknown names map to -1 (ignored). */
static int
bench_read_header(FILE *f, int *map, int *ncell, char *err, size_t errlen)
{
    char buf[4096], *cells[64];
    int n = bench_csv_read_record(f, buf, sizeof(buf), cells, 64);

    if (n <= 0) {
        snprintf(err, errlen, "no header line");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        map[i] = -1;
        for (size_t c = 0; c < BENCH_NCOLS; c++)
            if (strcmp(cells[i], bench_cols[c].name) == 0)
                map[i] = (int)c;
    }
    *ncell = n;
    return 0;
}

static int
bench_append_row(bench_row **rows, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        bench_row *nr = realloc(*rows, nc * sizeof(*nr));
        if (nr == NULL)
            return -1;
        *rows = nr;
        *cap = nc;
    }
    memset(&(*rows)[*n], 0, sizeof(bench_row));
    (*n)++;
    return 0;
}

int
bench_results_read(FILE *f, bench_meta *m, bench_row **rows, size_t *n,
                   char *err, size_t errlen)
{
    char buf[4096], *cells[64];
    int map[64], ncell, k;
    unsigned line = 0;
    size_t cap = 0;

    memset(m, 0, sizeof(*m));
    *rows = NULL;
    *n = 0;
    bench_read_meta(f, m, &line);
    line++;
    if (bench_read_header(f, map, &ncell, err, errlen) != 0)
        return -1;
    while ((k = bench_csv_read_record(f, buf, sizeof(buf), cells, 64)) != 0) {
        line++;
        if (k != ncell || bench_append_row(rows, n, &cap) != 0)
            goto fail;
        for (int i = 0; i < k; i++)
            if (map[i] >= 0 &&
                bench_parse_cell(&(*rows)[*n - 1], &bench_cols[map[i]],
                                 cells[i]) != 0)
                goto fail;
    }
    return 0;
fail:
    snprintf(err, errlen, "line %u: malformed row (%d fields, header has %d)",
             line, k, ncell);
    free(*rows);
    *rows = NULL;
    *n = 0;
    return -1;
}
