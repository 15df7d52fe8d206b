#!/bin/sh
# tests/engine_verify_cli.sh CASKLAB OUTDIR - `casklab verify` end to end: a
# clean store verifies (exit 0); a value byte flipped under a valid hint
# file is invisible to open but verify names its file and offset (exit 1);
# get, stats and verify leave the directory as it was (read-only opens);
# --auto-merge and --recover-threads are accepted; stats shows the
# loaders and the keydir's sizing; bad usage exits 64; commands other than put
# refuse a directory that holds no store (exit 2) and create nothing.
set -u
cas=$1
out=$2
fail() { echo "engine_verify_cli: FAIL: $*" >&2; exit 1; }
expect() { # expect CODE COMMAND...: output in last.log
    want=$1; shift
    "$@" >"$out/last.log" 2>&1
    got=$?
    [ "$got" -eq "$want" ] || { cat "$out/last.log" >&2; fail "$* exited $got, want $want"; }
}

rm -rf "$out" && mkdir -p "$out" || fail "cannot create $out"
s=$out/store
expect 0 "$cas" verify --help
expect 64 "$cas" verify
expect 64 "$cas" verify --dir "$s" extra
for cmd in "get --dir $s hello" "del --dir $s hello" "stats --dir $s" \
    "merge --dir $s" "verify --dir $s"; do
    # shellcheck disable=SC2086 # the command's words
    expect 2 "$cas" $cmd
    grep -q "no store at $s (no such directory" "$out/last.log" ||
        fail "$cmd: $(cat "$out/last.log")"
    [ ! -e "$s" ] || fail "$cmd created $s"
done
mkdir "$s" || fail "cannot create $s"
expect 2 "$cas" stats --dir "$s"
grep -q "holds no data files" "$out/last.log" || fail "empty dir: $(cat "$out/last.log")"
[ -z "$(ls "$s")" ] || fail "stats wrote into an empty directory"
expect 0 "$cas" put --dir "$s" --auto-merge hello world-of-bytes
expect 0 "$cas" verify --dir "$s"
# get, stats and verify open read-only: the directory does not change
before=$(ls -l --time-style=+%s.%N "$s" | md5sum)
expect 0 "$cas" get --dir "$s" hello
expect 0 "$cas" stats --dir "$s"
expect 0 "$cas" verify --dir "$s"
[ "$(ls -l --time-style=+%s.%N "$s" | md5sum)" = "$before" ] ||
    fail "a read-only command changed $s: $(ls -l "$s")"
grep -q '^0 damaged records$' "$out/last.log" || fail "clean store: $(cat "$out/last.log")"
[ -f "$s/0000000001.hint" ] || fail "close wrote no hint file"
# record at 16: 40-byte header, "hello", then the value: flip its 4th byte
printf 'X' | dd of="$s/0000000001.data" bs=1 seek=64 conv=notrunc 2>/dev/null ||
    fail "cannot damage the data file"
expect 0 "$cas" stats --dir "$s"
grep -q '1 hint files, 0 files scanned, 1 loading thread' "$out/last.log" ||
    fail "open did not trust the hint: $(cat "$out/last.log")"
grep -q '^keydir sized for  1 keys at open' "$out/last.log" ||
    fail "the keydir was not sized from the hint: $(cat "$out/last.log")"
expect 0 "$cas" stats --dir "$s" --recover-threads 4 # one file: one loader
grep -q '1 loading thread,' "$out/last.log" || fail "--recover-threads 4, one file"
expect 64 "$cas" stats --dir "$s" --recover-threads 0
grep -q 'needs 1..64' "$out/last.log" || fail "--recover-threads 0 not refused"
expect 1 "$cas" verify --dir "$s"
grep -q '0000000001.data offset 16: record fails its checksum' "$out/last.log" ||
    fail "verify did not name file and offset: $(cat "$out/last.log")"
grep -q '^1 damaged record$' "$out/last.log" || fail "verify count"
expect 2 "$cas" get --dir "$s" hello
echo "engine_verify_cli: ok"
