/*
 * ds/update_internal.h - the decision every keydir makes for a
 * conditional update (ds/keydir.h's put, put_if_newer, cas, del, del_if),
 * given the key's current entry. Written once so that the designs differ
 * only in how they install the result (a slot CAS, a bucket under its
 * lock, a serialised writer), never in what the result is. Private to ds/.
 *
 * kd_update_decide is a pure function of its arguments: safe from any
 * thread; the caller makes the entry it passes a consistent snapshot.
 */
#ifndef DS_UPDATE_INTERNAL_H
#define DS_UPDATE_INTERNAL_H

#include "ds/keydir.h"

#include <stddef.h>

enum kd_update_op {
    KD_UP_PUT,
    KD_UP_PUT_IF_NEWER,
    KD_UP_CAS,
    KD_UP_DEL,
    KD_UP_DEL_IF
};

/* What the caller then does with the key. */
enum kd_update_act { KD_ACT_REMOVE = -1, KD_ACT_NONE = 0, KD_ACT_INSTALL = 1 };

typedef struct kd_update {
    int op;                   /* enum kd_update_op */
    const kd_entry *e;        /* put, put_if_newer; cas: desired */
    const kd_entry *expected; /* cas (NULL: insert if absent), del_if */
    kd_entry *old;            /* the entry met, when present, or NULL */
} kd_update;

/* The outcome (a KD_* code) of q on a key whose entry is *cur (NULL:
 * absent); *act says whether to install q->e, remove the key, or do
 * nothing. */
static inline int
kd_update_decide(const kd_update *q, const kd_entry *cur, int *act)
{
    *act = KD_ACT_NONE;
    if (cur != NULL && q->old != NULL)
        *q->old = *cur;
    switch (q->op) {
    case KD_UP_PUT_IF_NEWER:
        if (cur != NULL && cur->seq >= q->e->seq)
            return KD_ESTALE;
        /* fall through */
    case KD_UP_PUT:
        *act = KD_ACT_INSTALL;
        return cur != NULL ? KD_REPLACED : KD_INSERTED;
    case KD_UP_CAS:
        if (q->expected == NULL) {
            *act = cur == NULL ? KD_ACT_INSTALL : KD_ACT_NONE;
            return cur == NULL ? KD_OK : KD_EEXIST;
        }
        if (cur == NULL)
            return KD_ENOTFOUND;
        if (!kd_entry_eq(cur, q->expected))
            return KD_ECHANGED;
        *act = KD_ACT_INSTALL;
        return KD_OK;
    default: /* KD_UP_DEL, KD_UP_DEL_IF */
        if (cur == NULL)
            return KD_ENOTFOUND;
        if (q->op == KD_UP_DEL_IF && !kd_entry_eq(cur, q->expected))
            return KD_ECHANGED;
        *act = KD_ACT_REMOVE;
        return KD_OK;
    }
}

#endif /* DS_UPDATE_INTERNAL_H */
