/*
 * bench/workload.c - YCSB key distributions (see bench/workload.h).
 *
 * The zipfian sampler is Gray et al.'s rejection-free inversion: with
 * zeta(n) = sum_{i=1..n} 1/i^theta precomputed, a uniform u maps to a rank
 * in O(1). It is exact for ranks 0 and 1 and closely approximates the tail,
 * as in YCSB's ZipfianGenerator.
 */
#include "bench/workload.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>

static double
wl_zeta(uint64_t n, double theta)
{
    double sum = 0;

    for (uint64_t i = 1; i <= n; i++)
        sum += 1.0 / pow((double)i, theta);
    return sum;
}

void
wl_init(wl_gen *g, wl_dist dist, uint64_t n, double theta, uint64_t seed)
{
    memset(g, 0, sizeof(*g));
    g->dist = dist;
    g->n = n ? n : 1;
    g->rng = wl_mix64(seed);
    if (dist == WL_UNIFORM)
        return;
    double zeta2 = wl_zeta(2, theta);
    g->theta = theta;
    g->alpha = 1.0 / (1.0 - theta);
    g->zetan = wl_zeta(g->n, theta);
    g->eta = (1.0 - pow(2.0 / (double)g->n, 1.0 - theta)) /
             (1.0 - zeta2 / g->zetan);
    g->half_pow_theta = 1.0 + pow(0.5, theta);
}

uint64_t
wl_zipf_rank(wl_gen *g)
{
    double u = wl_rand_unit(&g->rng);
    double uz = u * g->zetan;
    uint64_t r;

    if (uz < 1.0)
        return 0;
    if (uz < g->half_pow_theta)
        return 1;
    r = (uint64_t)((double)g->n * pow(g->eta * u - g->eta + 1.0, g->alpha));
    return r < g->n ? r : g->n - 1;
}

uint64_t
wl_next(wl_gen *g, uint64_t newest)
{
    switch (g->dist) {
    case WL_ZIPFIAN:
        /* Scatter ranks so the hot keys are spread over the key space. */
        return wl_mix64(wl_zipf_rank(g)) % g->n;
    case WL_LATEST: {
        uint64_t r = wl_zipf_rank(g);
        if (newest >= g->n)
            newest = g->n - 1;
        return r > newest ? 0 : newest - r;
    }
    case WL_UNIFORM:
    default:
        return wl_rand(&g->rng) % g->n;
    }
}

static const char *const wl_names[] = {"uniform", "zipfian", "latest"};

int
wl_parse_dist(const char *s, wl_dist *out)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, wl_names[i]) == 0) {
            *out = (wl_dist)i;
            return 0;
        }
    }
    return -1;
}

const char *
wl_dist_name(wl_dist d)
{
    return (unsigned)d < 3 ? wl_names[d] : "?";
}

static const wl_mix wl_mixes[] = {
    {'a', 50, 50, 0, 0, 0},
    {'b', 95, 5, 0, 0, 0},
    {'c', 100, 0, 0, 0, 0},
    {'d', 95, 0, 5, 0, 1},
    {'f', 50, 0, 0, 50, 0},
};

int
wl_parse_mix(const char *s, wl_mix *out)
{
    if (strncasecmp(s, "ycsb-", 5) == 0)
        s += 5;
    if (s[0] == '\0' || s[1] != '\0')
        return -1;
    for (size_t i = 0; i < sizeof(wl_mixes) / sizeof(wl_mixes[0]); i++) {
        if (tolower((unsigned char)s[0]) == wl_mixes[i].name) {
            *out = wl_mixes[i];
            return 0;
        }
    }
    return -1;
}
