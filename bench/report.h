/*
 * bench/report.h - results of `casklab bench` as CSV and JSON, and back.
 *
 * Both formats carry the same metadata block (how and where the run was
 * made: commit, compiler and flags, CPU model, cores, kernel, date, the full
 * command line, and one line per target saying how it was configured) and
 * the same rows (bench/runner.h's bench_row). CSV puts the metadata in
 * leading "# key: value" comment lines, which gnuplot and most CSV readers
 * skip; JSON puts it in a "metadata" object beside a "rows" array.
 * bench_results_read parses our CSV back, which is what `casklab plot`
 * consumes.
 *
 * Not thread-safe: one thread writes or reads a file.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include "bench/runner.h"

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_META_MAX 48

typedef struct bench_meta {
    size_t n;
    char key[BENCH_META_MAX][48];
    char val[BENCH_META_MAX][512];
} bench_meta;

/* The commit this binary was built from (git describe, "-dirty" when the
   tree had changes, "unknown" outside git), regenerated at every build. */
const char *bench_build_commit(void);

/* Fills the standard fields: commit, compiler, cflags, cpu, cores, kernel,
   date, command (argv joined with shell quoting). */
void bench_meta_collect(bench_meta *m, int argc, char **argv);

/* Adds or replaces one field (silently ignored past BENCH_META_MAX). */
void bench_meta_set(bench_meta *m, const char *key, const char *val);

/* The value of a field, or NULL. */
const char *bench_meta_get(const bench_meta *m, const char *key);

/* Writers: 0 on success, -1 on an I/O error. */
void bench_csv_field(FILE *f, const char *s);
void bench_json_string(FILE *f, const char *s);
int bench_csv_write(FILE *f, const bench_meta *m, const bench_row *rows,
                    size_t n);
int bench_json_write(FILE *f, const bench_meta *m, const bench_row *rows,
                     size_t n);

/*
 * Reads one CSV record (RFC 4180: quoted fields, doubled quotes, commas and
 * newlines inside quotes) into up to max NUL-terminated fields written in
 * buf (cap bytes). Returns the number of fields, 0 at end of file, -1 if the
 * record does not fit or is malformed.
 */
int bench_csv_read_record(FILE *f, char *buf, size_t cap, char **fields,
                          int max);

/*
 * Reads a CSV written by bench_csv_write: metadata into *m, rows into a
 * malloc'd array (*rows, *n; free it). Returns 0, or -1 with a message in
 * err naming the line that was wrong.
 */
int bench_results_read(FILE *f, bench_meta *m, bench_row **rows, size_t *n,
                       char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_REPORT_H */
