// tests/test_engine_cxx.cpp - engine/cask.h compiles as C++ and its API
// works from C++: the header's promise, checked by the compiler and a
// put/get round trip.
#include "engine/cask.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

int
main()
{
    const char *base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") +
                       "/casklab-cxx-XXXXXX";
    if (mkdtemp(&tmpl[0]) == nullptr)
        return 1;
    cask_options o{};
    cask *c = nullptr;
    void *v = nullptr;
    size_t n = 0;
    int ok = cask_open(tmpl.c_str(), &o, &c) == CASK_OK &&
             cask_put(c, "k", 1, "value", 5) == CASK_OK &&
             cask_get(c, "k", 1, &v, &n) == CASK_OK && n == 5 &&
             std::memcmp(v, "value", 5) == 0 && cask_close(c) == CASK_OK;
    std::free(v);
    std::string rm = "rm -rf '" + tmpl + "'";
    if (std::system(rm.c_str()) != 0)
        ok = 0;
    std::printf("engine/cask.h from C++: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
