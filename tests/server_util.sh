# tests/server_util.sh - sourced by the server script tests
# (server_redis_cli.sh, server_nospace.sh): start `casklab serve` on free
# ports, wait for its exit, compare. Every wait is a bounded poll.
# The caller sets casklab (the binary), srv_log (where the server's output
# goes) and srv_dir (its --dir), and keeps fail (0 until a check fails).

# srv_start ARGS...: starts the server on a free port; sets pid and port,
# and hport when ARGS ask for the HTTP API (--http-port 0).
srv_start() {
    local want_http=0
    case " $* " in *" --http-port "*) want_http=1 ;; esac
    rm -f "$srv_log" # the child truncates it only once it runs: no stale port
    "$casklab" serve --port 0 --dir "$srv_dir" "$@" >"$srv_log" 2>&1 &
    pid=$!
    port="" hport=""
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$srv_log")
        hport=$(sed -n 's/.*HTTP API on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$srv_log")
        [ -n "$port" ] && { [ $want_http = 0 ] || [ -n "$hport" ]; } && return 0
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL: server did not start:"; cat "$srv_log"; exit 1
}

# srv_wait_exit [TENTHS]: waits (bounded, default 10 s) for the server to
# exit; sets rc (255 and a FAIL line if it is still running).
srv_wait_exit() {
    for _ in $(seq "${1:-100}"); do
        kill -0 $pid 2>/dev/null || { wait $pid; rc=$?; return 0; }
        sleep 0.1
    done
    echo "FAIL: server still running"; rc=255; fail=1
}

# check NAME WANT GOT
check() {
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1"; echo "  want: $(printf %q "$2")"; echo "  got:  $(printf %q "$3")"
        fail=1
    else
        echo "ok: $1"
    fi
}
