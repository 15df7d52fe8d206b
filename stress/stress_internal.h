/*
 * stress/stress_internal.h - the harness's target tables, shared between
 * the files of stress/ that define them (target_*.c) and the scheme table
 * in target_kd.c. Not a public header.
 */
#ifndef STRESS_STRESS_INTERNAL_H
#define STRESS_STRESS_INTERNAL_H

#include "stress/stress.h"

/* Value read back that no thread wrote (a torn or invented value): the
 * checker rejects any history containing it. */
#define STRESS_TORN UINT64_MAX

extern const stress_target_ops stress_cask_target;      /* target_cask.c */
extern const stress_target_ops stress_cask_racy_target;  /* test only */
extern const stress_target_ops stress_cask_lossy_target; /* test only */

#endif /* STRESS_STRESS_INTERNAL_H */
