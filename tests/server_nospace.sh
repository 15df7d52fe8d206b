#!/bin/bash
# tests/server_nospace.sh PATH/TO/casklab - `casklab serve --sync always` on
# a disk that fills up, for real, driven by redis-cli and curl over
# 127.0.0.1.
#
# Runs as root of its own user and mount namespaces (tests/nospace.sh
# starts it under `unshare -rm`), where it mounts a 4 MiB tmpfs of its own,
# so the kernel's ENOSPC is what the store meets, not a fault hook.
# Checks:
#   - the open of a store on a disk too small for a preallocated data file
#     still serves (the degraded open);
#   - writes succeed until the disk is full; the first refused one, and
#     every one after it, answers `-IOERR no space left on the store's disk...`
#     over RESP, and HTTP PUT answers 507 with that reason;
#   - reads and PING go on being served, DBSIZE counts exactly the
#     acknowledged writes;
#   - SIGTERM still stops the server;
#   - after the disk grows (remount), a new server serves every
#     acknowledged write with its value (none lost, none corrupted) and
#     writes again.
# Every wait is a bounded poll (tests/server_util.sh).
set -u
casklab=$1
fail=0
root=$(mktemp -d /tmp/casklab-srvnospace.XXXXXX)
pid=""
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    umount "$root" 2>/dev/null
    rm -rf "$root"
}
trap cleanup EXIT

for tool in redis-cli curl; do
    command -v $tool >/dev/null || { echo "FAIL: $tool not found (Debian packages redis-tools, curl; run scripts/deps)"; exit 1; }
done
if ! mount -t tmpfs -o size=4m casklab-srvnospace "$root"; then
    echo "FAIL: cannot mount a tmpfs at $root (run under unshare -rm: tests/nospace.sh)"
    exit 1
fi
log=/tmp/casklab-srvnospace-$$.log # off the small disk: the server must log its errors

srv_log=$log srv_dir=$root/data
. "$(dirname "$0")/server_util.sh"

# stop_server: SIGTERM, then waits (bounded, 15 s) for the exit; sets rc.
stop_server() {
    kill -TERM $pid
    srv_wait_exit 150
    pid=""
}

cli() { timeout 20 redis-cli -p "$port" "$@" 2>&1; }
value() { printf 'v%05d-%s' "$1" "$pad"; } # ~1 KB, different per key
pad=$(head -c 1000 /dev/zero | tr '\0' 'x')
n=6000 # 6 MB of values: more than the 4 MiB disk holds

srv_start --http-port 0 --sync always
check "PING on a disk too small for a preallocated file" "PONG" "$(cli PING)"

# One redis-cli session, one reply line per SET, in order (redis-cli
# prints an empty line after an error reply; the replies go off the small
# disk).
replies=/tmp/casklab-srvnospace-$$.replies
for i in $(seq $n); do echo "SET k$i $(value $i)"; done |
    timeout 120 redis-cli -p "$port" 2>&1 | grep -v '^$' >"$replies"
acked=$(awk '$0 != "OK" { exit } { n++ } END { print n + 0 }' "$replies")
total=$(wc -l <"$replies")
echo "acknowledged $acked of $n writes ($total replies)"
check "every SET answered" "$n" "$total"
[ "$acked" -gt 100 ] && [ "$acked" -lt $n ] || { echo "FAIL: $acked writes acknowledged: the disk did not fill as planned"; fail=1; }
check "the first refused write names the full disk" "IOERR no space left on the store's disk" \
      "$(sed -n "$((acked + 1))p" "$replies" | cut -c1-39)"
check "every later write is refused too, none acknowledged" "0" \
      "$(tail -n +$((acked + 1)) "$replies" | grep -vc "^IOERR no space left on the store's disk")"
rm -f "$replies"

check "PING after the disk filled" "PONG" "$(cli PING)"
check "DBSIZE counts the acknowledged writes" "$acked" "$(cli DBSIZE)"
check "GET the first write" "$(value 1)" "$(cli GET k1)"
check "GET the last acknowledged write" "$(value $acked)" "$(cli GET k$acked)"
check "GET a refused write" "" "$(cli GET k$((acked + 1)))"
code=$(printf 'x' | timeout 20 curl -sS -m 20 -X PUT --data-binary @- -o "$log.body" \
       -w '%{http_code}' "http://127.0.0.1:$hport/v1/kv/web")
check "HTTP PUT on a full disk" "507 Insufficient Storage: no space left on the store's disk" \
      "$code $(cut -c1-55 "$log.body")"
rm -f "$log.body"
check "HTTP GET on a full disk" "$(value 2)" "$(timeout 20 curl -sS -m 20 "http://127.0.0.1:$hport/v1/kv/k2")"
stop_server
echo "server exit status after SIGTERM: $rc"

mount -o remount,size=32m "$root" || { echo "FAIL: remount"; exit 1; }
srv_start --http-port 0 --sync always
check "DBSIZE after a restart with space" "$acked" "$(cli DBSIZE)"
bad=0
for i in $(seq $acked); do echo "GET k$i"; done |
    timeout 120 redis-cli -p "$port" 2>&1 |
    awk -v pad="$pad" '{ if ($0 != sprintf("v%05d-%s", NR, pad)) bad++ } END { print bad + 0 }' >"$log.bad"
check "every acknowledged write is back with its value" "0" "$(cat "$log.bad")"
rm -f "$log.bad"
check "SET after the disk grew" "OK" "$(cli SET after space)"
check "GET it" "space" "$(cli GET after)"
stop_server
check "graceful stop after the disk grew" "0" "$rc"

rm -f "$log"
[ $fail = 0 ] && echo "server_nospace: all checks passed"
exit $fail
