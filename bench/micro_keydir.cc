/*
 * bench/micro_keydir.cc - Google Benchmark micro-benchmarks of every
 * registered keydir through its C API (ds/keydir.h), keys from
 * bench/workload.h.
 *
 * Matrix: keydir x operation x key size (8, 16 bytes) x distribution
 * (uniform, zipfian 0.99) x threads (1, 2, 2 x cores), on a keydir
 * prefilled with 1M keys (--kd_keys to change). Operations:
 *   get_hit      get of a present key;
 *   get_miss     get of an absent key (same distribution, disjoint range);
 *   put_replace  put over a present key;
 *   put_insert   put of a fresh key (each thread its own range; fixed
 *                iteration count, so the keydir grows by a bounded amount);
 *   cas          get, then cas to a new entry (a failed cas counts too);
 *   del          delete of a key the thread inserted before its timed loop.
 * Reclamation stays on; threads register and announce quiescent states
 * every 256 operations, as the keydir contract asks.
 *
 * Run: build/bench/micro_keydir --benchmark_filter=lockfree
 *      --benchmark_out=kd.json --benchmark_out_format=json
 * Google Benchmark records the date, CPU and caches in its JSON context.
 */
#include "bench/workload.h"
#include "ds/keydir.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

uint64_t g_keys = 1000000;
constexpr int64_t kFixedIters = 200000; /* put_insert, del */

enum class Op { GetHit, GetMiss, PutReplace, PutInsert, Cas, Del };

const char *
op_name(Op op)
{
    switch (op) {
    case Op::GetHit: return "get_hit";
    case Op::GetMiss: return "get_miss";
    case Op::PutReplace: return "put_replace";
    case Op::PutInsert: return "put_insert";
    case Op::Cas: return "cas";
    case Op::Del: return "del";
    }
    return "?";
}

/* Keys: the index in the first 8 bytes, then a fixed tail for 16-byte keys
 * (so 16-byte keys hash and compare over all their bytes). */
struct Key {
    unsigned char b[16];
    size_t len;
    Key(uint64_t i, size_t klen) : len(klen)
    {
        std::memcpy(b, &i, 8);
        uint64_t tail = wl_mix64(i);
        std::memcpy(b + 8, &tail, 8);
    }
};

/* One prefilled keydir at a time: benchmarks run one after another, and
 * all threads of one benchmark share it. */
struct Shared {
    std::mutex mu;
    std::string name;
    size_t klen = 0;
    kd_keydir *kd = nullptr;
    wl_gen zipf{};
    bool zipf_ready = false;
} g_shared;

kd_keydir *
prefilled(const std::string &name, size_t klen)
{
    std::lock_guard<std::mutex> lock(g_shared.mu);
    if (g_shared.kd != nullptr && g_shared.name == name &&
        g_shared.klen == klen)
        return g_shared.kd;
    if (g_shared.kd != nullptr)
        kd_close(g_shared.kd);
    g_shared.kd = nullptr;
    kd_options opt{};
    if (name == "urcu_lfht")
        opt.capacity_hint = g_keys; /* the pre-sized peer */
    if (kd_open(name.c_str(), &opt, &g_shared.kd) != KD_OK)
        return nullptr;
    kd_thread_register(g_shared.kd);
    for (uint64_t i = 0; i < g_keys; i++) {
        Key k(i, klen);
        kd_entry e = {1, 100, i * 128, i + 1};
        kd_put(g_shared.kd, k.b, k.len, &e, nullptr);
    }
    kd_thread_unregister(g_shared.kd);
    g_shared.name = name;
    g_shared.klen = klen;
    return g_shared.kd;
}

wl_gen
generator(wl_dist dist, uint64_t seed)
{
    wl_gen g;
    if (dist == WL_ZIPFIAN) {
        std::lock_guard<std::mutex> lock(g_shared.mu);
        if (!g_shared.zipf_ready || g_shared.zipf.n != g_keys) {
            wl_init(&g_shared.zipf, WL_ZIPFIAN, g_keys, 0.99, 1);
            g_shared.zipf_ready = true;
        }
        g = g_shared.zipf;
        wl_reseed(&g, seed);
    } else {
        wl_init(&g, WL_UNIFORM, g_keys, 0.99, seed);
    }
    return g;
}

/* This thread's private key range, far above the prefilled keys. */
uint64_t
private_base(int thread)
{
    return (1ull << 40) + ((uint64_t)thread << 32);
}

void
run(benchmark::State &state, std::string name, Op op, size_t klen,
    wl_dist dist)
{
    kd_keydir *kd = prefilled(name, klen);
    if (kd == nullptr) {
        state.SkipWithError("keydir failed to open");
        return;
    }
    wl_gen g = generator(dist, 1000 + (uint64_t)state.thread_index());
    uint64_t base = private_base(state.thread_index()), n = 0, bad = 0;
    kd_thread_register(kd);
    if (op == Op::Del) {
        for (int64_t i = 0; i < kFixedIters; i++) {
            Key k(base + (uint64_t)i, klen);
            kd_entry e = {3, 100, 0, 1};
            kd_put(kd, k.b, k.len, &e, nullptr);
        }
    }
    for (auto _ : state) {
        uint64_t i = wl_next(&g, 0);
        kd_entry e;
        switch (op) {
        case Op::GetHit: {
            Key k(i, klen);
            bad += kd_get(kd, k.b, k.len, &e) != KD_OK;
            break;
        }
        case Op::GetMiss: {
            Key k(i + g_keys, klen);
            bad += kd_get(kd, k.b, k.len, &e) != KD_ENOTFOUND;
            break;
        }
        case Op::PutReplace: {
            Key k(i, klen);
            e = {2, 100, i * 128, n};
            bad += kd_put(kd, k.b, k.len, &e, nullptr) != KD_REPLACED;
            break;
        }
        case Op::PutInsert: {
            Key k(base + n, klen);
            e = {2, 100, n, n + 1};
            bad += kd_put(kd, k.b, k.len, &e, nullptr) != KD_INSERTED;
            break;
        }
        case Op::Cas: {
            Key k(i, klen);
            if (kd_get(kd, k.b, k.len, &e) == KD_OK) {
                kd_entry next = e;
                next.seq++;
                kd_cas(kd, k.b, k.len, &e, &next);
            }
            break;
        }
        case Op::Del: {
            Key k(base + n, klen);
            bad += kd_del(kd, k.b, k.len, nullptr) != KD_OK;
            break;
        }
        }
        if ((++n & 255) == 0)
            kd_quiescent(kd);
    }
    if (op == Op::PutInsert) {
        for (uint64_t j = 0; j < n; j++) {
            Key k(base + j, klen);
            kd_del(kd, k.b, k.len, nullptr);
        }
    }
    kd_thread_unregister(kd);
    state.counters["unexpected"] = benchmark::Counter(
        (double)bad, benchmark::Counter::kAvgThreads);
    state.SetItemsProcessed(state.iterations());
}

void
register_all()
{
    unsigned cores = std::thread::hardware_concurrency();
    std::vector<int> threads = {1, 2};
    if (cores * 2 > 2)
        threads.push_back((int)(cores * 2));
    for (size_t i = 0; kd_registered(i) != nullptr; i++) {
        const kd_ops *ops = kd_registered(i);
        if (ops->flags & KD_FLAG_TEST_ONLY)
            continue;
        /* keydir, then key size outermost: one prefill per pair */
        for (size_t klen : {8, 16}) {
            for (Op op : {Op::GetHit, Op::GetMiss, Op::PutReplace,
                          Op::PutInsert, Op::Cas, Op::Del}) {
                for (wl_dist d : {WL_UNIFORM, WL_ZIPFIAN}) {
                    std::string bname = std::string(op_name(op)) + "/" +
                                        ops->name + "/k" +
                                        std::to_string(klen) + "/" +
                                        wl_dist_name(d);
                    auto *b = benchmark::RegisterBenchmark(
                        bname.c_str(), run, std::string(ops->name), op, klen,
                        d);
                    for (int t : threads)
                        b->Threads(t);
                    b->UseRealTime();
                    if (op == Op::PutInsert || op == Op::Del)
                        b->Iterations(kFixedIters);
                }
            }
        }
    }
}

} // namespace

int
main(int argc, char **argv)
{
    /* --kd_keys=N (ours) is taken out before Google Benchmark parses. */
    std::vector<char *> args;
    for (int i = 0; i < argc; i++) {
        if (std::strncmp(argv[i], "--kd_keys=", 10) == 0)
            g_keys = std::strtoull(argv[i] + 10, nullptr, 10);
        else
            args.push_back(argv[i]);
    }
    if (g_keys < 1000) {
        std::fprintf(stderr, "micro_keydir: --kd_keys must be >= 1000\n");
        return 64;
    }
    int n = (int)args.size();
    register_all();
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data()))
        return 64;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    {
        std::lock_guard<std::mutex> lock(g_shared.mu);
        if (g_shared.kd != nullptr)
            kd_close(g_shared.kd);
    }
    return 0;
}
