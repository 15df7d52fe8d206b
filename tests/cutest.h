/*
 * tests/cutest.h - a little glue around CUnit shared by every suite.
 *
 * ct_run registers one suite from a table of cases, runs it with the basic
 * interface (which prints CUnit's run summary) and returns the number of
 * failed asserts and tests, so main can turn it into an exit status. Each
 * test binary is its own ctest process with a time limit (see
 * tests/CMakeLists.txt), so one crash or hang is one failure.
 */
#ifndef TESTS_CUTEST_H
#define TESTS_CUTEST_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdio.h>

typedef struct ct_case {
    const char *name;
    void (*fn)(void);
} ct_case;

static inline unsigned
ct_run(const char *suite_name, const ct_case *cases, size_t n)
{
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        return 1;
    }
    CU_pSuite s = CU_add_suite(suite_name, NULL, NULL);
    for (size_t i = 0; s != NULL && i < n; i++)
        CU_add_test(s, cases[i].name, cases[i].fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    if (CU_get_number_of_tests_run() == 0)
        failed++; /* a suite that ran nothing is not a pass */
    CU_cleanup_registry();
    return failed;
}

#define CT_CASE(f) { #f, f }
#define CT_NCASES(a) (sizeof(a) / sizeof((a)[0]))

#endif /* TESTS_CUTEST_H */
