#!/usr/bin/env bash
# bench/checkhook.sh — what the CHECKHOOK build (`make checkhook`, see the
# Makefile) buys, and what it costs, beside the stock build.
#
# Run from the repository root after `make` and `make checkhook`.
#   1. bench/spinners.lua on 2 schedulers, 2 spinners, RUNS times each: the
#      stock build with compiled spinners, the stock build with interpreted
#      ones (what preemption does where it works), the checkhook build with
#      compiled ones. One line per run: round trips beside the spinners,
#      hand-offs, spinners the kill ended and how long it took.
#   2. The CPU-bound workloads (pingpong, ring, gen_call rt, pool and
#      bench/compute.lua), RUNS times on each build, the builds alternating,
#      each in a fresh host. Prints the median of each result per build, the
#      ratio checkhook / stock, and the cost: how much slower checkhook is
#      (negative: faster).
#
# Environment: RUNS (default 3), BENCH_SCALE (default 1: the sizes of
# bench/run.sh), BENCH_TIMEOUT (seconds per run, default 120), LUAJIT (the
# LuaJIT that formats the table, default luajit), BASE_BUILD and
# CHECKHOOK_BUILD (the trees compared, default build and build-checkhook; a
# control build of the same LuaJIT source without CHECKHOOK, as base, tells
# the flag's cost from the build's).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

runs=${RUNS:-3}
scale=${BENCH_SCALE:-1}
limit=${BENCH_TIMEOUT:-120}
luajit=${LUAJIT:-luajit}
base=${BASE_BUILD:-build}
other=${CHECKHOOK_BUILD:-build-checkhook}
builds="$base $other"
for b in $builds; do
    [ -x "$b/bin/moonbeam" ] || { echo "$b/bin/moonbeam not found: run make and make checkhook" >&2; exit 1; }
done

export LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/moonbeam-checkhook.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

n() { awk -v s="$scale" -v n="$1" 'BEGIN { v = int(n * s + 0.5); if (v < 1) v = 1; print v }'; }
# v KEY: the value of KEY in the last spinners run.
v() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$tmp/spin"; }

# mb BUILD ARGS...: one fresh host of BUILD; its RESULT lines as KEY<TAB>VALUE.
mb() {
    local b=$1
    shift
    LUA_CPATH="$b/lib/?.so;;" timeout -k 5 "$limit" "$b/bin/moonbeam" "$@" 2>"$tmp/err" |
        awk -F'\t' '$1 == "RESULT" { print $2 "\t" $3 }'
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "checkhook.sh: $b/bin/moonbeam $* exited with $rc:" >&2; tail -n 5 "$tmp/err" >&2; }
}

echo "moonbeam: $base (LuaJIT: $(ldd "$base/bin/moonbeam" | awk '/libluajit/ { print $3 }')) against $other ($(ldd "$other/bin/moonbeam" | awk '/libluajit/ { print $3 }'))"
echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm), nproc=$(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "1. Two spinners on two schedulers: 1 s of ping-pong beside them, then mb.exit(pid, \"kill\")"
printf '%-16s %-12s %12s %14s %9s %8s %14s\n' build spinners round_trips worst_rt_ms hand_offs killed kill_worst_ms
for r in $(seq 1 "$runs"); do
    for cfg in "$base compiled" "$base interp" "$other compiled"; do
        set -- $cfg
        mb "$1" --schedulers 2 run bench/spinners.lua 2 1000 "$2" >"$tmp/spin"
        printf '%-16s %-12s %12s %14s %9s %8s %14s\n' "$1" "$2" "$(v spin_rt_count)" "$(v spin_rt_worst_ms)" \
            "$(v spin_handoffs)" "$(v spin_killed)/2" "$(v spin_kill_worst_ms)"
    done
done
echo "(kill_worst_ms -1: no spinner ended within 1 s; the host leaves their threads to the OS at exit)"

echo
echo "2. CPU-bound workloads, $runs runs each, medians"
: >"$tmp/results"
for r in $(seq 1 "$runs"); do
    for b in $builds; do
        {
            mb "$b" run bench/pingpong.lua "$(n 2000000)"
            mb "$b" run bench/ring.lua 1000 "$(n 1000000)"
            mb "$b" run bench/gen_call.lua "$(n 500000)" 1 rt
            mb "$b" run bench/pool.lua "$(n 8000)" 8 4 20000
            mb "$b" run bench/compute.lua "$scale"
        } | sed "s|^|$b\t|" >>"$tmp/results"
    done
    echo "   run $r of $runs done" >&2
done

"$luajit" - "$tmp/results" "$base" "$other" <<'EOF'
local rows, order, seen = {}, {}, {}
for line in io.lines(arg[1]) do
  local b, key, v = line:match("^(%S+)\t(%S+)\t(%S+)$")
  if b and key ~= "pool_speedup" then
    if not seen[key] then seen[key] = true; order[#order + 1] = key end
    rows[key] = rows[key] or {}
    rows[key][b] = rows[key][b] or {}
    table.insert(rows[key][b], tonumber(v))
  end
end
local function median(t)
  if not t or #t == 0 then return nil end
  table.sort(t)
  local m = #t
  return m % 2 == 1 and t[(m + 1) / 2] or (t[m / 2] + t[m / 2 + 1]) / 2
end
print(("%-22s %8s %16s %16s %8s %8s"):format("result", "unit", arg[2], arg[3], "ratio", "cost"))
for _, key in ipairs(order) do
  local s, c = median(rows[key][arg[2]]), median(rows[key][arg[3]])
  local unit = key:match("_per_s$") and "1/s" or key:match("_us$") and "us" or key:match("_ms$") and "ms" or ""
  if s and c then
    local ratio = c / s
    -- A rate is better higher, a time lower: the cost is the time lost.
    local cost = unit == "1/s" and s / c - 1 or ratio - 1
    print(("%-22s %8s %16.3f %16.3f %8.3f %+7.1f%%"):format(key, unit, s, c, ratio, cost * 100))
  else
    print(("%-22s %8s %16s %16s"):format(key, unit, tostring(s), tostring(c)))
  end
end
EOF
