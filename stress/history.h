/*
 * stress/history.h - concurrent histories: what many threads did, when.
 *
 * A history is a list of operations, each with the process that ran it, the
 * times of its invocation and of its completion, the operation (get, put,
 * del, cas, append; add for sets), the key, its inputs, its output and its
 * status: ok, fail (the operation completed without effect: a cas whose
 * comparison failed, a del of an absent key) or info (the outcome is
 * unknown, as after a timeout: it may take effect at any time after its
 * invocation, or never). stress/HISTORY.md documents casklab's text format.
 *
 * Keys and values are byte strings interned into dense integer ids (one
 * table for keys, one for values), so the checker compares integers and
 * never strings. Value id HIST_NIL (0) means "no value": an absent key, a
 * get that found nothing, an unused input.
 *
 * hist_parse reads casklab's own format and, detected by content, the
 * formats of other checkers: Porcupine's key-value logs and Knossos' EDN
 * histories (one EDN map per line), and Jepsen's etcd logs. Bad input never
 * crashes: it returns HIST_EPARSE with the line and a message in hist_error.
 *
 * Threads: a hist is a plain value; one thread builds it, after which any
 * number of threads may read it concurrently.
 *
 * This header compiles as C and as C++.
 */
#ifndef STRESS_HISTORY_H
#define STRESS_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors (< 0). X-macro: name, value, message. */
#define HIST_ERRORS(X)                                                        \
    X(HIST_OK,      0,  "ok")                                                 \
    X(HIST_EPARSE,  -1, "malformed history")                                  \
    X(HIST_ENOMEM,  -2, "out of memory")                                      \
    X(HIST_EIO,     -3, "cannot read or write the history file")              \
    X(HIST_ETOOBIG, -4, "history too large (over 2^31 operations or bytes)")

enum hist_code {
#define HIST_ENUM_(name, value, msg) name = (value),
    HIST_ERRORS(HIST_ENUM_)
#undef HIST_ENUM_
};

/* A message for any code returned by this module (never NULL). */
const char *hist_strerror(int code);

/* The data type the operations act on; decides which checker model runs. */
typedef enum hist_model {
    HIST_MODEL_KV = 0,   /* per key: get/put/del/cas/append on a string */
    HIST_MODEL_REGISTER, /* one register: read(get)/write(put)/cas */
    HIST_MODEL_SET       /* one set: add, read (the whole set) */
} hist_model;

typedef enum hist_fn {
    HIST_GET = 0, /* out: the value read (HIST_NIL: absent); set: the set */
    HIST_PUT,     /* arg1: the value written */
    HIST_DEL,     /* ok: removed; fail: was absent */
    HIST_CAS,     /* arg1 expected (HIST_NIL: absent), arg2 new; fail: the
                     stored value differed */
    HIST_APPEND,  /* arg1 appended to the stored string (absent = "") */
    HIST_ADD,     /* set: arg1 added */
    HIST_NFN
} hist_fn;

typedef enum hist_status {
    HIST_ST_OK = 0,
    HIST_ST_FAIL,
    HIST_ST_INFO
} hist_status;

/* Value id of "no value". */
#define HIST_NIL 0u
/* Return time of an operation whose outcome is unknown (status info). */
#define HIST_NEVER UINT64_MAX

typedef struct hist_op {
    uint64_t id;   /* unique within the history */
    uint64_t call; /* invocation time (ns, or event rank) */
    uint64_t ret;  /* completion time, > call; HIST_NEVER for info */
    uint32_t proc; /* process (thread, client) */
    uint32_t key;  /* key id */
    uint32_t arg1, arg2, out; /* value ids */
    uint32_t line; /* source line (1-based), 0 if built in memory */
    uint8_t fn;    /* hist_fn */
    uint8_t status;/* hist_status */
} hist_op;

/* Interned byte strings with dense ids. Private layout; use hist_str. */
typedef struct hist_strtab {
    char *bytes;
    size_t nbytes, capbytes;
    uint64_t *off; /* string i is bytes[off[i] .. off[i+1]) */
    uint32_t n, cap;
    uint32_t *index; /* open addressing over ids + 1 (0 = empty) */
    uint32_t index_mask;
} hist_strtab;

/* Where a history came from. */
typedef enum hist_format {
    HIST_FMT_CASKLAB = 0,
    HIST_FMT_EDN,    /* Porcupine key-value logs and Knossos histories */
    HIST_FMT_JEPSEN  /* Jepsen etcd logs */
} hist_format;

#define HIST_META_MAX 128

typedef struct hist {
    hist_model model;
    hist_format format;
    hist_op *ops;
    size_t nops, capops;
    hist_strtab keys;
    hist_strtab vals; /* id 0 is HIST_NIL and has no bytes */
    /* Header metadata (casklab format), NUL-terminated, may be empty. */
    char target[HIST_META_MAX];
    char commit[HIST_META_MAX];
    uint32_t threads;
    uint64_t seed;
} hist;

/* What went wrong, for messages: the 1-based line (0: not line-specific). */
typedef struct hist_error {
    size_t line;
    char msg[192];
} hist_error;

/* An empty history of the given model. Returns 0 or HIST_ENOMEM. */
int hist_init(hist *h, hist_model model);
void hist_free(hist *h);

/* Interns a key / a value, returning its id through *id. A value of
 * length 0 is the empty string, not HIST_NIL. */
int hist_key(hist *h, const void *bytes, size_t len, uint32_t *id);
int hist_value(hist *h, const void *bytes, size_t len, uint32_t *id);

/* Looks a value up without interning it: 0 and *id if present, -1 if not.
 * Safe to call from many threads at once on a history no one modifies. */
int hist_value_find(const hist *h, const void *bytes, size_t len,
                    uint32_t *id);

/* Bytes of key or value `id` (not NUL-terminated) and their length. */
const char *hist_key_str(const hist *h, uint32_t id, size_t *len);
const char *hist_value_str(const hist *h, uint32_t id, size_t *len);
size_t hist_nkeys(const hist *h);
size_t hist_nvalues(const hist *h);

/* Appends a copy of *op. Returns 0, HIST_ENOMEM or HIST_ETOOBIG. */
int hist_append(hist *h, const hist_op *op);

/*
 * Parses len bytes (any content) into *h, which hist_parse initialises;
 * detects the format. Returns 0; or HIST_EPARSE with err filled in (the
 * line and what is wrong there); or HIST_ENOMEM. On error *h is freed.
 */
int hist_parse(hist *h, const char *buf, size_t len, hist_error *err);

/* Reads the file at path and parses it (HIST_EIO if it cannot be read). */
int hist_load(hist *h, const char *path, hist_error *err);

/* Writes *h in casklab's format. Returns 0 or HIST_EIO. */
int hist_write(const hist *h, FILE *to);

/* Name of a function, status, model, format ("get", "ok", "kv", ...). */
const char *hist_fn_name(int fn, hist_model model);
const char *hist_status_name(int status);
const char *hist_model_name(hist_model model);
const char *hist_format_name(hist_format format);

#ifdef __cplusplus
}
#endif

#endif /* STRESS_HISTORY_H */
