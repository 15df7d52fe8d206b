// tests/test_bench_cxx.cpp - bench/'s public headers compile and link as
// C++ (the house rule for public headers), checked by using one inline
// function of each from C++ and asserting what it returns.
#include "bench/hist.h"
#include "bench/report.h"
#include "bench/runner.h"
#include "bench/target.h"
#include "bench/workload.h"

#include <cstdio>
#include <memory>

int
main()
{
    auto h = std::make_unique<bench_hist>();
    wl_mix mix;
    uint64_t rng = 1;

    bench_hist_reset(h.get());
    bench_hist_record(h.get(), 42);
    if (bench_hist_percentile(h.get(), 50) != 42 || wl_parse_mix("c", &mix) ||
        wl_next_op(&mix, &rng) != WL_OP_READ ||
        !bench_target_exists("kd:global", nullptr)) {
        std::fprintf(stderr, "bench headers misbehave under C++\n");
        return 1;
    }
    std::printf("bench headers: C++ ok\n");
    return 0;
}
