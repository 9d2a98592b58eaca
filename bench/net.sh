#!/usr/bin/env bash
# bench/net.sh — one network workload against one server, for bench/run.sh.
#
#   bench/net.sh resp PREFIX N SERVER_CMD...   redis-benchmark -t set,get -n N -c 50, then -P 16
#   bench/net.sh http PREFIX SECS SERVER_CMD... wrk -t2 -c100 -d SECS against GET /
#   bench/net.sh idle PREFIX N SERVER_CMD...    N idle connections held (bench/net_hold.lua):
#                                               the server's VmRSS growth per connection
#
# SERVER_CMD gets a free port as its last argument; once it accepts
# connections the client runs, the RESULT lines are printed
# (PREFIX_set_per_s, PREFIX_p16_get_per_s, PREFIX_per_s, PREFIX_conn_kb),
# and the server is stopped. A client or server program that is not
# installed prints a note and no RESULT (the row shows "-"), exit 0.
set -u
kind=$1 prefix=$2 size=$3
shift 3

log() { printf 'bench/net.sh: %s\n' "$*" >&2; }

need() {
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 || { log "$p not installed: no $prefix $kind rows"; exit 0; }
    done
}
case $kind in
    resp) need redis-benchmark "$1" ;;
    http) need wrk "$1" ;;
    idle) need "$1" ;;
    *) log "unknown workload $kind"; exit 2 ;;
esac

# A port nobody answers on, from a base that differs between runs, below
# Linux's ephemeral range (32768 and up): a port the clients of the last run
# still hold as theirs (closing, or in TIME_WAIT) cannot be listened on, and
# the server then ends before it listens.
port=$((20000 + RANDOM % 12000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

"$@" "$port" >/dev/null 2>&1 &
server=$!
trap 'kill -KILL $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { log "$* ended before it listened"; exit 1; }
    sleep 0.1
done

# rate OUTPUT NAME: the requests per second redis-benchmark -q said for NAME.
rate() { tr '\r' '\n' <<<"$1" | awk -v n="$2:" '$1 == n && /requests per second/ { print $2 }' | tail -n1; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$server/status"; }

case $kind in
resp)
    for p in 1 16; do
        out=$(redis-benchmark -p "$port" -t set,get -n "$size" -c 50 -P "$p" -q 2>/dev/null)
        tag=$([ "$p" = 1 ] && echo "" || echo "p16_")
        for cmd in SET GET; do
            r=$(rate "$out" "$cmd")
            [ -n "$r" ] || { log "redis-benchmark -P $p said nothing for $cmd: $out"; exit 1; }
            printf 'RESULT\t%s_%s%s_per_s\t%s\treq/s\n' "$prefix" "$tag" "$(tr A-Z a-z <<<"$cmd")" "$r"
        done
    done
    ;;
http)
    out=$(wrk -t2 -c100 -d"${size}s" "http://127.0.0.1:$port/")
    r=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
    [ -n "$r" ] && [ -z "$bad" ] || { log "wrk: $out"; exit 1; }
    printf 'RESULT\t%s_per_s\t%s\treq/s\n' "$prefix" "$r"
    ;;
idle)
    ulimit -n $((size * 2 + 1000)) 2>/dev/null
    before=$(rss_kb)
    fifo=$(mktemp -u); mkfifo "$fifo"
    ${MOONBEAM:-build/bin/moonbeam} run bench/net_hold.lua "$port" "$size" <"$fifo" >"$fifo.out" 2>&1 &
    holder=$!
    exec 4>"$fifo"   # the holder holds its connections until this closes
    for _ in $(seq 600); do grep -q held "$fifo.out" && break; kill -0 $holder 2>/dev/null || break; sleep 0.1; done
    grep -q held "$fifo.out" || { log "the holder did not hold: $(cat "$fifo.out")"; exit 1; }
    after=$(rss_kb)
    exec 4>&-
    wait $holder
    rm -f "$fifo" "$fifo.out"
    awk -v a="$after" -v b="$before" -v n="$size" -v p="$prefix" \
        'BEGIN { printf "RESULT\t%s_conn_kb\t%.2f\tKB\n", p, (a - b) / n }'
    ;;
esac
