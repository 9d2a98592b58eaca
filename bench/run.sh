#!/usr/bin/env bash
# bench/run.sh — moonbeam's benchmark suite beside the same workloads on BEAM.
#
# Run from the repository root after `make` (`make bench` calls it). Runs
# every bench/*.lua workload in a fresh `build/bin/moonbeam run`, the C
# baselines bench/newstate.c and bench/switch.c, and bench/peers/erlang/bench_core.erl,
# bench_gen.erl (gen_server), bench_ets.erl (ETS) and bench_pool.erl (a worker pool) in a fresh
# `erl` per workload, then prints one table (bench/table.lua).
#
# Environment:
#   BENCH_SCALE    multiplies every workload size (default 1; 0.1 for a smoke run)
#   BENCH_ROUNDS   runs of each process workload and its BEAM peer (default 1); the
#                  table shows each value's median (network and distribution rows run
#                  once). A peer runs right after its workload, so that a machine whose
#                  speed drifts (a shared VM) moves both sides of a row alike
#   BENCH_TIMEOUT  seconds one workload may run before it is killed (default 120)
#   BENCH_ONLY     run only these workloads: names as in the log, comma-separated;
#                  a name also picks those it starts ("gen_call": gen_call rt, 2c, ...)
#   BENCH_RESULTS  a directory to keep the raw RESULT files in (moonbeam.results, beam.results)
#   MOONBEAM       the host executable (default build/bin/moonbeam)
#   LUAJIT         the LuaJIT that prints the table (default luajit)
#   ERL, ERLC      Erlang/OTP's erl and erlc (default from PATH; missing: BEAM column "-")
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

export LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;"
export LUA_CPATH="./build/lib/?.so;;"

scale=${BENCH_SCALE:-1}
rounds=${BENCH_ROUNDS:-1}
case $rounds in '' | *[!0-9]* | 0) echo "BENCH_ROUNDS must be a whole number >= 1" >&2; exit 2 ;; esac
round=1
limit=${BENCH_TIMEOUT:-120}
only=${BENCH_ONLY:-}
moonbeam=${MOONBEAM:-build/bin/moonbeam}
luajit=${LUAJIT:-luajit}
erl=${ERL:-erl}
erlc=${ERLC:-erlc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/moonbeam-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mb_out=$tmp/moonbeam.results
beam_out=$tmp/beam.results
: >"$mb_out"
: >"$beam_out"

# n COUNT: COUNT times BENCH_SCALE, at least 1.
n() { awk -v s="$scale" -v n="$1" 'BEGIN { v = int(n * s + 0.5); if (v < 1) v = 1; print v }'; }

log() { printf 'bench: %s\n' "$*" >&2; }

# wanted NAME: whether BENCH_ONLY (if set) picks workload NAME ("moonbeam
# ring", "BEAM ring" and "ring" are all "ring").
wanted() {
    [ -z "$only" ] && return 0
    local name=${1#moonbeam } item
    name=${name#BEAM }
    local IFS=,
    for item in $only; do
        case $name in "$item" | "$item "*) return 0 ;; esac
    done
    return 1
}

# run_one RESULTS NAME CMD...: run CMD under the time limit, keep its RESULT
# lines, and record a FAIL line (with the output's tail on stderr) if it
# exits non-zero or times out.
run_one() {
    local results=$1 name=$2
    shift 2
    wanted "$name" || return 0
    local out="$tmp/$(echo "$name" | tr -c 'A-Za-z0-9_\n' '_').log"
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout -k 5 "$limit" "$@" >"$out" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    grep -a '^RESULT' "$out" >>"$results"
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    if [ "$rc" -ne 0 ]; then
        local why="exit status $rc"
        [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="timed out after ${limit}s"
        [ "$rc" -gt 128 ] && [ "$rc" -ne 137 ] && why="killed by signal $((rc - 128))"
        printf 'FAIL\t%s\t%s (%s)\n' "$name" "$why" "$*" >>"$results"
        log "$name FAILED: $why; last output:"
        tail -n 15 "$out" | sed 's/^/    | /' >&2
    else
        log "$name: ${secs}s${round_note:-}"
    fi
}

echo "moonbeam benchmarks"
echo "command: $0 $*  (BENCH_SCALE=$scale BENCH_ROUNDS=$rounds BENCH_TIMEOUT=$limit${only:+ BENCH_ONLY=$only})"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(uname -srm), nproc=$(nproc), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "memory:  $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "luajit:  $($luajit -v 2>&1 | head -n1)"

# How fast each CPU walks 1 MB of memory in a random order, pinned there,
# relative to the fastest. On a shared VM one vCPU can be a third slower at
# this than another (a busy neighbour on its core's caches) while a loop of
# arithmetic runs alike on both: a row whose work stays on one core (a ring,
# one producer) then moves with the CPU it landed on.
cpu_speeds() {
    command -v taskset >/dev/null 2>&1 || { echo "(taskset not found)"; return; }
    local cpu ns out=""
    for cpu in $(seq 0 $(($(nproc) - 1))); do
        [ "$cpu" -ge 16 ] && break
        ns=$(taskset -c "$cpu" "$luajit" -e '
            local n, nxt, perm, seed = 131072, {}, {}, 12345
            for i = 1, n do perm[i] = i end
            for i = n, 2, -1 do
              seed = (seed * 1103515245 + 12345) % 2147483648
              local j = seed % i + 1
              perm[i], perm[j] = perm[j], perm[i]
            end
            for i = 1, n - 1 do nxt[perm[i]] = perm[i + 1] end
            nxt[perm[n]] = perm[1]
            local p, t = 1, os.clock()
            for _ = 1, 4e6 do p = nxt[p] end
            io.write(string.format("%.2f", (os.clock() - t) * 1e9 / 4e6))' 2>/dev/null) || ns=""
        out="$out $cpu:${ns:-?}"
    done
    echo "$out" | awk '{ best = 0
        for (i = 1; i <= NF; i++) { split($i, a, ":"); if (a[2] != "?" && (best == 0 || a[2] + 0 < best)) best = a[2] + 0 }
        for (i = 1; i <= NF; i++) { split($i, a, ":")
            printf "%scpu%s %s", (i > 1 ? ", " : ""), a[1], (a[2] == "?" || best == 0) ? "?" : sprintf("%.2f", best / a[2]) }
        printf " (fastest: %.1f ns a load)\n", best }'
}
echo "cpus:    $(cpu_speeds); speed walking 1 MB at random, pinned, fastest = 1.00 (again after the table)"

# Whether CPUs 0 and 1 share a last-level cache now (bench/crosscore.c): a
# host can put a VM's two vCPUs on cores that do not, and move them. When
# they do not, a line written on one costs the other ~7x, and a row whose
# states were made on one scheduler and run on the other (a ring on two)
# may move with it.
cross_core() {
    [ "$(nproc)" -ge 2 ] || { echo "(one cpu)"; return; }
    if [ ! -x "$tmp/crosscore" ] &&
        ! cc -std=c11 -O2 -Wall -pthread -o "$tmp/crosscore" bench/crosscore.c 2>/dev/null; then
        echo "(bench/crosscore.c did not build)"
        return
    fi
    "$tmp/crosscore" 4 2>&1
}
echo "caches:  $(cross_core) (again after the table)"

# ------------------------------------------------------------ C baselines
# c_baseline NAME ARGS...: run bench/NAME.c, built against LuaJIT (below).
c_baseline() {
    local name=$1
    shift
    wanted "$name" || return 0
    if [ -x "$tmp/$name" ]; then
        run_one "$mb_out" "$name" "$tmp/$name" "$@"
    else
        printf 'FAIL\t%s\tbench/%s.c did not build\n' "$name" "$name" >>"$mb_out"
    fi
}
for name in newstate switch; do
    wanted "$name" || continue
    if ! cc -std=c11 -O2 -Wall -o "$tmp/$name" "bench/$name.c" \
            $(pkg-config --cflags --libs luajit) 2>"$tmp/cc.log"; then
        log "$name.c did not build:"; sed 's/^/    | /' "$tmp/cc.log" >&2
    fi
done

# --------------------------------------------------- moonbeam beside BEAM
if [ -x "$moonbeam" ]; then
    echo "host:    $moonbeam (schedulers: its default)"
else
    echo "host:    $moonbeam not found (run make first): moonbeam column empty"
    printf 'FAIL\t%s\tnot found; run make first\n' "$moonbeam" >>"$mb_out"
fi

# The peers are compiled once, before the rounds.
beam_note=""
beam_core=false beam_gen=false beam_ets=false beam_pool=false
if command -v "$erl" >/dev/null 2>&1 && command -v "$erlc" >/dev/null 2>&1; then
    mkdir -p "$tmp/ebin"
    # erlc_peer NAME FLAG: compile bench/peers/erlang/NAME.erl; FLAG=true if it did.
    erlc_peer() {
        if "$erlc" -o "$tmp/ebin" "bench/peers/erlang/$1.erl" 2>"$tmp/erlc_$1.log"; then
            eval "$2=true"
        else
            log "$1.erl did not compile:"; sed 's/^/    | /' "$tmp/erlc_$1.log" >&2
            printf 'FAIL\t%s.erl\tdid not compile\n' "$1" >>"$beam_out"
        fi
    }
    erlc_peer bench_core beam_core
    erlc_peer bench_gen beam_gen
    erlc_peer bench_ets beam_ets
    erlc_peer bench_pool beam_pool
    otp=$("$erl" -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().' 2>/dev/null)
    scheds=$("$erl" -noshell -eval 'io:format("~p", [erlang:system_info(schedulers_online)]), halt().' 2>/dev/null)
    echo "erlang:  OTP $otp, erl -noshell +P 1048576 (default flags, $scheds schedulers)"
else
    echo "erlang:  erl/erlc not found: BEAM column empty"
fi

# mbrun NAME ARGS...: a moonbeam workload, `moonbeam run ARGS`.
mbrun() {
    [ -x "$moonbeam" ] || return 0
    local name=$1
    shift
    run_one "$mb_out" "moonbeam $name" "$moonbeam" run "$@"
}
# mbfair NAME ARGS...: bench/fairness.lua on 2 schedulers, whatever the machine.
mbfair() {
    [ -x "$moonbeam" ] || return 0
    local name=$1
    shift
    run_one "$mb_out" "moonbeam $name" "$moonbeam" --schedulers 2 run bench/fairness.lua "$@"
}
# erun FLAG NAME ARGS...: a BEAM workload, `erl ... ARGS`, if FLAG's peer compiled.
erun() {
    local ok=$1 name=$2
    shift 2
    $ok || return 0
    run_one "$beam_out" "BEAM $name" "$erl" -noshell +P 1048576 "$@"
}
ecore() { local name=$1; shift; erun "$beam_core" "$name" -pa "$tmp/ebin" -run bench_core main "$@"; }
egen() { local name=$1; shift; erun "$beam_gen" "$name" -pa "$tmp/ebin" -run bench_gen main "$@"; }
efair() { local name=$1; shift; erun "$beam_core" "$name" +S 2:2 -pa "$tmp/ebin" -run bench_core main "$@"; }

# One round: each workload on moonbeam, then at once its BEAM peer, so
# that the two sides of a row run seconds apart, not minutes.
bench_round() {
    c_baseline newstate "$(n 10000)"
    c_baseline switch "$(n 1000000)" 1000
    mbrun "spawn 10k"  bench/spawn.lua "$(n 10000)" 10k
    ecore "spawn 10k"  spawn "$(n 10000)" 10k
    mbrun "spawn 100k" bench/spawn.lua "$(n 100000)" 100k
    ecore "spawn 100k" spawn "$(n 100000)" 100k
    mbrun "spawn_exit" bench/spawn_exit.lua "$(n 100000)"
    ecore "spawn_exit" spawn_exit "$(n 100000)"
    mbrun "spawn 10k by module" bench/spawn.lua "$(n 10000)" 10k module
    mbrun "pingpong"   bench/pingpong.lua "$(n 2000000)"
    ecore "pingpong"   pingpong "$(n 2000000)"
    mbrun "pause"      bench/pause.lua "$(n 1000)"
    ecore "pause"      pause "$(n 1000)"
    mbrun "send"       bench/send.lua "$(n 4000000)"
    ecore "send"       send "$(n 4000000)"
    mbrun "ring"       bench/ring.lua 1000 "$(n 1000000)"
    ecore "ring"       ring 1000 "$(n 1000000)"
    mbrun "timers"     bench/timers.lua "$(n 100000)" 1000
    ecore "timers"     timers "$(n 100000)" 1000
    mbrun "idle_cpu"   bench/idle_cpu.lua "$(n 10000)" 2000
    ecore "idle_cpu"   idle "$(n 10000)" 2000
    # BEAM's idle run again with scheduler busy-waiting off, for the footnote.
    if $beam_core && wanted "idle_cpu"; then
        : >"$tmp/idle_nobw.results"
        run_one "$tmp/idle_nobw.results" "BEAM idle_cpu (+sbwt none)" \
            "$erl" -noshell +P 1048576 +sbwt none +sbwtdcpu none +sbwtdio none \
            -pa "$tmp/ebin" -run bench_core main idle "$(n 10000)" 2000
        beam_note=$(awk -F'\t' '$2 == "idle_cpu_pct" { print $3 }' "$tmp/idle_nobw.results")
    fi
    mbrun "gen_call rt"  bench/gen_call.lua "$(n 500000)" 1 rt
    egen  "gen_call rt"  call "$(n 500000)" 1 rt
    mbrun "gen_call 2c"  bench/gen_call.lua "$(n 400000)" 2 2c
    egen  "gen_call 2c"  call "$(n 400000)" 2 2c
    mbrun "gen_call 8c"  bench/gen_call.lua "$(n 400000)" 8 8c
    egen  "gen_call 8c"  call "$(n 400000)" 8 8c
    mbrun "gen_call 64c" bench/gen_call.lua "$(n 400000)" 64 64c
    egen  "gen_call 64c" call "$(n 400000)" 64 64c
    mbrun "echo_clients" bench/echo_clients.lua "$(n 400000)" 64
    mbrun "gen_cast 1p"  bench/gen_cast.lua "$(n 3000000)" 1 1p
    egen  "gen_cast 1p"  cast "$(n 3000000)" 1 1p
    mbrun "gen_cast 2p"  bench/gen_cast.lua "$(n 3000000)" 2 2p
    egen  "gen_cast 2p"  cast "$(n 3000000)" 2 2p
    mbrun "gen_cast 8p"  bench/gen_cast.lua "$(n 3000000)" 8 8p
    egen  "gen_cast 8p"  cast "$(n 3000000)" 8 8p
    mbrun "gen_queued"   bench/gen_queued.lua "$(n 80000)" 10000 10k
    egen  "gen_queued"   queued "$(n 80000)" 10000 10k
    mbrun "gen_start"    bench/gen_start.lua "$(n 10000)"
    egen  "gen_start"    start "$(n 10000)"
    mbrun "gen_start spaced" bench/gen_start.lua "$(n 600)" spaced
    mbrun "shared_table" bench/shared_table.lua "$(n 1000000)"
    erun "$beam_ets" "shared_table" -pa "$tmp/ebin" -run bench_ets main "$(n 1000000)"
    mbrun "pool"         bench/pool.lua "$(n 8000)" 8 4 20000
    erun "$beam_pool" "pool" -pa "$tmp/ebin" -run bench_pool main "$(n 8000)" 8 4 20000
    mbrun "blocking"     bench/blocking.lua --schedulers 2 2 1000
    mbrun "monitors"     bench/monitors.lua "$(n 100000)"
    # Fairness on 2 schedulers (erl +S 2:2): beside spinners.
    mbfair "fairness pingpong" pingpong "$(n 2000)" 2 compiled interpreted
    efair  "fairness pingpong" fairness_pp "$(n 2000)" 2
    mbfair "fairness timers"   timers "$(n 10000)" 1000 compiled interpreted
    efair  "fairness timers"   fairness_timers "$(n 10000)" 1000
}

# The rounds (BENCH_ROUNDS): the table shows each value's median.
while [ "$round" -le "$rounds" ]; do
    [ "$rounds" -gt 1 ] && round_note=" (round $round of $rounds)"
    bench_round
    round=$((round + 1))
done
round_note=""

# ---------------------------------------------------------- distribution
# gen_server calls and casts between two nodes on loopback, one connection
# (bench/dist.sh): an erl client against a moonbeam node and a moonbeam
# client against another moonbeam node in moonbeam's column, an erl client
# against an erl node in BEAM's.
if command -v "$erl" >/dev/null 2>&1 && command -v "$erlc" >/dev/null 2>&1 && command -v epmd >/dev/null 2>&1; then
    mkdir -p "$tmp/ebin"
    if "$erlc" -o "$tmp/ebin" bench/peers/erlang/bench_dist.erl 2>"$tmp/erlc_dist.log"; then
        distrun() {
            local out=$1 name=$2 kind=$3
            run_one "$out" "$name" bash bench/dist.sh "$kind" "$(n 100000)" "$moonbeam" "$erl" "$tmp/ebin"
        }
        if [ -x "$moonbeam" ]; then
            distrun "$mb_out" "moonbeam dist erl_lua" erl_lua
            distrun "$mb_out" "moonbeam dist lua_lua" lua_lua
        fi
        distrun "$beam_out" "BEAM dist erl_erl" erl_erl
    else
        log "bench_dist.erl did not compile:"; sed 's/^/    | /' "$tmp/erlc_dist.log" >&2
        printf 'FAIL\tbench_dist.erl\tdid not compile\n' >>"$beam_out"
    fi
else
    echo "dist:    erl, erlc or epmd not found: the distribution rows are skipped"
fi

# ------------------------------------------------------- network servers
# examples/resp_server.lua and http_server.lua against their gen_tcp peers
# and redis-server, driven by redis-benchmark and wrk (bench/net.sh; a
# missing program leaves its rows "-"); idle connections and accepts/s.
netrun() { local out=$1 name=$2; shift 2; run_one "$out" "$name" bash bench/net.sh "$@"; }
if [ -x "$moonbeam" ]; then
    netrun "$mb_out" "moonbeam resp" resp resp "$(n 100000)" "$moonbeam" run examples/resp_server.lua
    netrun "$mb_out" "resp redis-server" resp redis "$(n 100000)" redis-server --save '' --appendonly no --port
    netrun "$mb_out" "moonbeam http" http http 10 "$moonbeam" run examples/http_server.lua
    netrun "$mb_out" "moonbeam idle_conn" idle idle "$(n 10000)" "$moonbeam" run examples/tcp_echo.lua
    run_one "$mb_out" "moonbeam accept" "$moonbeam" run bench/net_accept.lua "$(n 10000)"
fi
if command -v "$erl" >/dev/null 2>&1 && command -v "$erlc" >/dev/null 2>&1; then
    mkdir -p "$tmp/ebin"
    for peer in resp_server http_server; do
        if "$erlc" -o "$tmp/ebin" "bench/peers/erlang/$peer.erl" 2>"$tmp/erlc_$peer.log"; then
            kind=${peer%_server}
            size=$([ "$kind" = resp ] && n 100000 || echo 10)
            netrun "$beam_out" "BEAM $kind" "$kind" "$kind" "$size" "$erl" -noshell -pa "$tmp/ebin" -run "$peer" main
        else
            log "$peer.erl did not compile:"; sed 's/^/    | /' "$tmp/erlc_$peer.log" >&2
            printf 'FAIL\t%s.erl\tdid not compile\n' "$peer" >>"$beam_out"
        fi
    done
fi

echo
"$luajit" bench/table.lua ${only:+--present} "$mb_out" "$beam_out"
echo "cpus at the end: $(cpu_speeds)"
echo "caches at the end: $(cross_core)"
[ -n "${BENCH_RESULTS:-}" ] && mkdir -p "$BENCH_RESULTS" && cp "$mb_out" "$beam_out" "$BENCH_RESULTS"/
echo
echo "Notes:"
echo "- ratio = moonbeam / BEAM for every row; the target column says which way is better."
echo "- spawn: wall time from the first spawn until every new process has run and reported"
echo "  'ready' (one message each), divided by the count; spawn_call_* counts until the last spawn call returned (a spawner gives its turn every 20 spawns)."
echo "- RSS per idle process: VmRSS growth of the whole OS process / count (processes blocked in"
echo "  receive); idle_proc_*_erlmem_kb is erlang:memory(total) growth; idle_state_* is mb.info().memory."
echo "- timers: 100k send_after timers, delays uniform in 0..1000 ms, armed by one process at an idle"
echo "  receiver; lateness = receive time - due time (monotonic clock); timer_late_min < 0: a timer"
echo "  fired early; timer_late_p99_after_arm: only the timers due after the arming loop ended."
echo "  Receive timeout lateness: 300 receives of 1..5 ms that no message ends (Erlang: receive ... after),"
echo "  each one's elapsed time - its timeout. A burst: N/4 timers of 0..50 ms set at once by one process,"
echo "  round robin to 10 receivers."
echo "- idle CPU: user+system time of the whole OS process over 2 s with 10k processes blocked in"
echo "  receive (100% = one core). BEAM ran with default flags (scheduler busy-wait on, the default);"
[ -n "$beam_note" ] && echo "  with +sbwt none +sbwtdcpu none +sbwtdio none it measured ${beam_note}%."
echo "- gen_server: one counter server (bench/lib/gen_counter.lua; bench_gen.erl on BEAM), default"
echo "  5 s call timeout. call rt: one caller, µs per call. N clients: each warmed up with 1000 calls,"
echo "  released together; total calls/s until the last is done. cast: N producers cast, then each"
echo "  makes one call (so the server has handled all its casts); casts/s until the last call returns."
echo "  10k queued: the same caller with 10,000 unrelated messages in its own mailbox, alternating"
echo "  rounds with an empty mailbox; the ratio row is each side's queued / empty time."
echo "- pool: 8 clients make 8000 calls, each 20000 rounds of a random-number generator (~0.2 ms of"
echo "  CPU), first to one gen_server doing the work itself, then to examples/worker_pool.lua: a router"
echo "  under one name casting each call to 1 of 4 workers in turn, which answer with gen.reply"
echo "  (bench_pool.erl on BEAM). The speedup is bounded by min(4, cores); the call/s ratio to BEAM is"
echo "  mostly the loop's speed in LuaJIT against BEAM's."
echo "- blocking (diagnostics): round trips/s between two processes on 2 schedulers, alone, then"
echo "  while 2 other processes each run mb.blocking(os.execute, \"sleep 1\"); no BEAM peer."
echo "- fairness (2 schedulers: moonbeam --schedulers 2, erl +S 2:2): a spinner is a process in a"
echo "  loop that never yields. moonbeam's \"compiled\" one is a LuaJIT trace (only handed off, after"
echo "  40 ms), its \"interpreted\" one runs with jit.off() (preempted after ~4 ms); BEAM's one kind, a"
echo "  tight recursive loop, stands beside both. pingpong: round trips for 2 s idle, then for 2 s"
echo "  with 2 spinners of each kind (rate, p99, % of the same run's idle rate). timers: 10k send_after"
echo "  over 0..1000 ms, idle, then with 1 spinner of each kind; / idle = p99 with it / idle p99."
echo "- dist (bench/dist.sh): two nodes on loopback, each its own OS process, one connection, an"
echo "  epmd of the run's own. A counter gen_server (bench/lib/dist_counter.lua; bench_dist.erl on"
echo "  BEAM) called by one client on the other node: µs per call after 1000 warm-up calls; then N"
echo "  casts and one call, casts/s until it returns. erl → this node: an erl client; moonbeam →"
echo "  moonbeam: bench/dist_client.lua on another moonbeam node. BEAM: erl client → erl node."
echo "- network (bench/net.sh): each server in its own OS process on 127.0.0.1, the client beside it"
echo "  on the same cores. RESP: redis-benchmark -t set,get -n 100000 -c 50 (-q), then -P 16, against"
echo "  examples/resp_server.lua, bench/peers/erlang/resp_server.erl (BEAM) and redis-server --save ''"
echo "  --appendonly no (the redis_* rows). HTTP: wrk -t2 -c100 -d10s GET / against examples/"
echo "  http_server.lua and http_server.erl. Idle connections: VmRSS growth of examples/tcp_echo.lua (a"
echo "  process per connection) while bench/net_hold.lua holds 10k, each echoed once, / 10k. Accepts:"
echo "  bench/net_accept.lua, one acceptor, 10 connecting processes in the same host."
echo "- each workload runs in a fresh host / VM; sizes scaled by BENCH_SCALE=$scale."
[ "$rounds" -gt 1 ] && echo "- every process workload and its BEAM peer ran $rounds times; each value is the median."

# A workload that failed makes `make bench` fail too, after the table.
if grep -q '^FAIL' "$mb_out" "$beam_out"; then
    echo "some workloads FAILED (see above)"
    exit 1
fi
exit 0
