#!/bin/sh
# tests/stress_engine_cli.sh CASKLAB OUTDIR - `casklab stress` on engine
# targets end to end: exit codes, the merges/reopens line, the history
# header naming the spec, --dir kept, and a broken engine mode caught
# (exit 1) on one of five seeds.
set -u
cas=$1
out=$2
fail() { echo "stress_engine_cli: FAIL: $*" >&2; exit 1; }
run() { # run COMMAND...: runs it, output in last.log, status in $got
    "$@" >"$out/last.log" 2>&1
    got=$?
}
expect() { # expect CODE COMMAND...
    want=$1; shift
    run "$@"
    [ "$got" -eq "$want" ] || { cat "$out/last.log" >&2; fail "$* exited $got, want $want"; }
}

rm -rf "$out" && mkdir -p "$out/store" || fail "cannot create $out"
expect 0 "$cas" stress --list
grep -q '^cask:' "$out/last.log" || fail "stress --list lacks cask:"
grep -q '^cask-racy:.*TEST ONLY' "$out/last.log" || fail "cask-racy not marked test-only"
expect 64 "$cas" stress --target striped --reopens 1
expect 64 "$cas" stress --target striped --mix 1,1,1,1,1
expect 64 "$cas" stress --target striped --keydir global
expect 64 "$cas" stress --target cask:striped --keydir global
expect 64 "$cas" stress --target cask:nope --ops 10
expect 64 "$cas" stress --target engine --sync sometimes --ops 10
expect 64 "$cas" stress --target engine --mix 1,1,1

expect 0 "$cas" stress --target engine --keydir global --threads 3 --keys 8 \
    --ops 3000 --mix 50,30,10,10,2 --reopens 2 --quiet --check \
    --out "$out/e.hist"
grep -q 'target=cask:global' "$out/last.log" || fail "no target line"
grep -q 'merges (0 failed), 2 reopens' "$out/last.log" || fail "no merges/reopens line"
head -1 "$out/e.hist" | grep -q 'target=cask:global ' || fail "header lacks the target"
expect 0 "$cas" check "$out/e.hist"

expect 0 "$cas" stress --target engine --sync always --dir "$out/store" \
    --threads 2 --ops 500 --reopens 1 --quiet --check
ls "$out/store" | grep -q '\.data$' || fail "--dir store not kept"

caught=0
for seed in 1 2 3 4 5; do
    run "$cas" stress --target cask-lossy --threads 2 --keys 4 --ops 3000 \
        --reopens 2 --seed "$seed" --quiet --check
    [ "$got" -eq 1 ] && { caught=1; break; }
    [ "$got" -eq 0 ] || { cat "$out/last.log" >&2; fail "cask-lossy exited $got"; }
done
[ "$caught" -eq 1 ] || fail "cask-lossy not caught on seeds 1-5"
grep -q 'NOT linearizable' "$out/last.log" || fail "no verdict line"
rm -rf "$out"
echo "stress_engine_cli: ok"
