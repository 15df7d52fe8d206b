/*
 * tests/fuzz_hist.c - libFuzzer target for the history parsers.
 *
 * Any bytes go to hist_parse (all three formats are reachable: the input
 * picks one by its content); whatever parses is written back, parsed again
 * and checked under tight time and memory limits, so the checker's
 * preparation and search run on adversarial shapes too. Crashes, leaks and
 * undefined behaviour are what the fuzzer reports.
 */
#include "stress/lincheck.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hist h, h2;
    hist_error err;
    lin_options opt = {0};
    lin_result r;
    char *buf = NULL;
    size_t len = 0;

    if (hist_parse(&h, (const char *)data, size, &err) != 0)
        return 0;
    opt.threads = 1;
    opt.timeout_s = 0.05;
    opt.max_memory = 16u << 20;
    opt.minimize = 1;
    if (lin_check(&h, &opt, &r) == 0) {
        FILE *f = fopen("/dev/null", "w");
        if (f != NULL) {
            if (r.verdict == LIN_ILLEGAL)
                lin_write_html(f, &h, &r);
            lin_print_timeline(f, &h, r.bad_ops, r.nbad);
            fclose(f);
        }
        lin_result_free(&r);
    }
    FILE *m = open_memstream(&buf, &len);
    if (m != NULL) {
        hist_write(&h, m);
        fclose(m);
        if (hist_parse(&h2, buf, len, &err) == 0) {
            if (h2.nops != h.nops)
                abort(); /* what we write we must read back */
            hist_free(&h2);
        }
        free(buf);
    }
    hist_free(&h);
    return 0;
}
