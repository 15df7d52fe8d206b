#!/bin/sh
# tests/nospace.sh COMMAND [ARG...] - runs a full-disk test
# (test_engine_nospace, or bash tests/server_nospace.sh) as root of its own
# user and mount namespaces (`unshare -rm`), where it mounts a small tmpfs
# and fills it. Where the kernel or a container refuses such namespaces, the
# test cannot run: it says why and exits 77, which ctest reports as
# skipped (listed as "Not Run"), never as passed.
set -u
if ! err=$(unshare -rm true 2>&1); then
    echo "nospace: SKIPPED: cannot create a user and mount namespace" \
         "(unshare -rm: $err); the full-disk test needs them"
    exit 77
fi
exec unshare -rm "$@"
