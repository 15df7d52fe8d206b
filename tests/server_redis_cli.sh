#!/bin/bash
# tests/server_redis_cli.sh - `casklab serve` driven by the real redis-cli
# and redis-benchmark (Debian package redis-tools) and curl (its HTTP API),
# over 127.0.0.1 only.
#
# usage: tests/server_redis_cli.sh PATH/TO/casklab
# Checks: replies of a redis-cli session (arguments and stdin forms,
# --bigkeys),
# a short redis-benchmark run, casklab get/stats beside the running server
# (a read-only snapshot) and put refused, --read-only (reads served, writes refused,
# the store's directory untouched), SIGTERM = graceful stop (exit 0), and a
# second SIGTERM while a client stalls the graceful stop = exit at once
# (exit 1). Every wait is a bounded poll. Bash for /dev/tcp.
set -u
casklab=$1
fail=0
tmp=$(mktemp -d)
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT

for tool in redis-cli redis-benchmark curl; do
    command -v $tool >/dev/null || { echo "FAIL: $tool not found (Debian packages redis-tools, curl; run scripts/deps)"; exit 1; }
done

srv_log=$tmp/log srv_dir=$tmp/data
. "$(dirname "$0")/server_util.sh"

cli() { timeout 10 redis-cli -p "$port" "$@" 2>&1; }

srv_start --http-port 0
curl_() { timeout 10 curl -sS -m 10 "$@" 2>&1; }
check "PING" "PONG" "$(cli PING)"
check "SET" "OK" "$(cli SET greeting 'hello world')"
check "GET" "hello world" "$(cli GET greeting)"
check "GET missing" "" "$(cli GET missing)"
check "SET NX on existing" "" "$(cli SET greeting x NX)"
check "INCR" "1" "$(cli INCR hits)"
check "MGET" "$(printf 'hello world\n\n1')" "$(cli MGET greeting nope hits)"
check "CAS" "1" "$(cli CAS greeting 'hello world' bye)"
check "EXPIRE/TTL" "$(printf '1\n50')" "$(cli EXPIRE hits 50; cli TTL hits)"
check "unknown command" "ERR unknown command 'NOPE', with args beginning with: 'x' " "$(cli NOPE x)"
check "wrong arity" "ERR wrong number of arguments for 'get' command" "$(cli GET)"
check "SELECT 1" "ERR DB index is out of range" "$(cli SELECT 1)"
check "stdin session" "$(printf 'OK\nv\n1\n2')" \
      "$(printf 'SET k v\nGET k\nDEL k\nDBSIZE\n' | timeout 10 redis-cli -p "$port" 2>&1)"
check "binary via -x" "OK" "$(printf 'a\0b' | cli -x SET bin)"
check "binary value back" "610062" "$(cli GET bin | head -c 3 | od -An -tx1 | tr -d ' \n')"
check "CONFIG GET save" "$(printf 'save\n')" "$(cli CONFIG GET save)"
check "APPEND, SETRANGE and GETRANGE" "$(printf '5\n5\nworld')" \
      "$(cli APPEND tail hello; cli SETRANGE tail 0 world; cli GETRANGE tail 0 4)"
check "CLIENT SETNAME, then CLIENT LIST in the same session" "name=bench" \
      "$(printf 'CLIENT SETNAME bench\nCLIENT LIST\n' | cli | grep -o 'name=bench')"
check "SET a 100-byte value" "OK" "$(cli SET biggest "$(printf '%0100d' 7)")"
check "redis-cli --bigkeys (SCAN, TYPE, STRLEN)" "Biggest string found '\"biggest\"' has 100 bytes" \
      "$(cli --bigkeys | grep '^Biggest string')"
check "DEL it" "1" "$(cli DEL biggest)"
url="http://127.0.0.1:$hport"
check "curl PUT" "204" "$(printf 'x\0y' | curl_ -X PUT --data-binary @- -o /dev/null -w '%{http_code}' "$url/v1/kv/web%2Fkey")"
check "curl GET (binary)" "780079" "$(curl_ "$url/v1/kv/web%2Fkey" | od -An -tx1 | tr -d ' \n')"
check "curl GET via redis-cli" "web/key" "$(cli KEYS 'web*')"
check "curl GET missing" "404" "$(curl_ -o /dev/null -w '%{http_code}' "$url/v1/kv/nope")"
check "curl DELETE" "204" "$(curl_ -X DELETE -o /dev/null -w '%{http_code}' "$url/v1/kv/web%2Fkey")"
check "curl status" "1" "$(curl_ "$url/v1/status" | grep -c '"pool":{"threads":')"
check "curl merge" '{"merged":true,"error":""}' "$(curl_ -X POST "$url/v1/admin/merge")"
check "curl metrics" "1" "$(curl_ "$url/metrics" | grep -c '^casklab_keys ')"
bench=$(timeout 60 redis-benchmark -p "$port" -t set,get -n 2000 -c 4 -q 2>&1 | tr '\r' '\n' | grep -c 'requests per second')
check "redis-benchmark runs set and get" "2" "$bench"
check "redis-benchmark's key present" "1" "$(cli EXISTS key:__rand_int__)"
check "SET before the stop" "OK" "$(cli SET kept 'survives a restart')"
kill -TERM $pid
srv_wait_exit
check "SIGTERM: graceful exit status" "0" "$rc"
check "SIGTERM: stopped message" "casklab serve: stopped" "$(tail -n 1 "$tmp/log")"

# The engine store: a restart on the same --dir finds the data.
srv_start --sync always
check "restart: value kept" "survives a restart" "$(cli GET kept)"
check "restart: INFO names the engine" "store_backend:cask" \
    "$(cli INFO store | tr -d '\r' | grep store_backend)"
check "casklab get beside the running server" "survives a restart" \
    "$("$casklab" get --dir "$tmp/data" kept 2>/dev/null)"
check "  ... exactly the value (the server's expiry header taken off)" "19" \
    "$("$casklab" get --dir "$tmp/data" kept 2>/dev/null | wc -c)"
check "casklab stats says it read beside a writer" "1" \
    "$("$casklab" stats --dir "$tmp/data" 2>/dev/null | grep -c '^opened beside a running writer')"
check "casklab put beside the server: refused (exit 2)" "2" \
    "$("$casklab" put --dir "$tmp/data" k v >/dev/null 2>&1; echo $?)"
kill -TERM $pid
srv_wait_exit
check "restart: graceful exit status" "0" "$rc"

check "the store is marked as written by casklab serve" "1" "$(ls "$tmp/data" | grep -c '^SERVED$')"
check "casklab put into a stopped server's store" "0" \
    "$("$casklab" put --dir "$tmp/data" fromcli 'from the command line' >/dev/null 2>&1; echo $?)"

# --read-only: the same store served without writing anything in it.
listing() { ls -l --time-style=+%s.%N "$tmp/data" | md5sum; }
before=$(listing)
srv_start --read-only --http-port 0
url="http://127.0.0.1:$hport"
ro="READONLY You can't write against a read only store."
check "read-only: GET" "survives a restart" "$(cli GET kept)"
check "read-only: GET what casklab put wrote" "from the command line" "$(cli GET fromcli)"
check "read-only: SET refused" "$ro" "$(cli SET kept x)"
check "read-only: DEL refused" "$ro" "$(cli DEL kept)"
check "read-only: FLUSHALL refused" "$ro" "$(cli FLUSHALL)"
check "read-only: value unchanged" "survives a restart" "$(cli GET kept)"
check "read-only: curl GET" "survives a restart" "$(curl_ "$url/v1/kv/kept")"
check "read-only: curl PUT" "403" "$(curl_ -X PUT --data x -o /dev/null -w '%{http_code}' "$url/v1/kv/kept")"
check "read-only: curl merge" '{"merged":false,"error":"the store is served read-only"}' \
    "$(curl_ -X POST "$url/v1/admin/merge")"
kill -TERM $pid
srv_wait_exit
check "read-only: graceful exit status" "0" "$rc"
check "read-only: nothing written in the store" "$before" "$(listing)"

# No --dir and no --store memory: a usage error, nothing served.
"$casklab" serve --port 0 >/dev/null 2>&1
check "serve without --dir: usage" "64" "$?"

# A second signal during a stalled graceful stop exits at once.
srv_start --shutdown-ms 600000
head -c 1000000 /dev/zero | tr '\0' v | cli -x SET big >/dev/null
processed() { cli INFO stats | tr -d '\r' | sed -n 's/total_commands_processed://p'; }
n0=$(processed)
exec 3<>/dev/tcp/127.0.0.1/"$port"
# 100 MB of replies, never read; one printf, so one write of the requests
printf 'GET big\r\n%.0s' $(seq 100) >&3
# Wait (bounded) until 20 GETs ran: the server has received the requests
# (one write, read at once), and owes more reply bytes (100 MB) than the
# kernel's socket buffers hold, so the graceful stop must wait for this
# client. Each poll is a command itself: the k-th sees n0 + k + the GETs.
ran=0
for k in $(seq 200); do
    ran=$(( $(processed) - n0 - k ))
    [ "$ran" -ge 20 ] && break
    sleep 0.05
done
check "stall client: its requests ran" "1" "$(( ran >= 20 ))"
check "stall client connected" "1" "$(cli INFO clients | tr -d '\r' | sed -n 's/connected_clients://p' | awk '{print ($1 >= 2)}')"
kill -TERM $pid
for _ in $(seq 100); do # the listener closes when the graceful stop begins
    cli PING | grep -q PONG || break
    sleep 0.1
done
check "first SIGTERM: stops accepting" "" "$(cli PING | grep PONG)"
check "first SIGTERM: still draining" "0" "$(kill -0 $pid 2>/dev/null; echo $?)"
kill -TERM $pid
srv_wait_exit
check "second SIGTERM: exit status" "1" "$rc"
exec 3>&-
exit $fail
