#!/bin/sh
# run_specs.sh 'COMMAND' SPEC_FILE...
#
# Runs each spec file in its own busted process (COMMAND, split on spaces,
# followed by the file), so that a file which crashes or hangs costs that
# file alone and the run goes on.
#
# Files run side by side, SPEC_JOBS at a time (default: four per processor,
# as most files spend their time waiting on messages, not computing). With
# SPEC_TIMES naming a file where each spec file's last wall and CPU seconds
# are kept (make spec keeps build/spec-times; spec/support/spec-times, in the
# repository, stands in for files it has no record of), the longest start
# first (files with no record at all before all), and files that used 2 s of
# CPU or more run at most one per processor at a time, so that the others
# fill the processors beside them instead of waiting behind them.
# SPEC_ALONE names files whose checks measure time, which the load of other
# files would skew: they run first, one at a time, with nothing beside them.
#
# Each file has SPEC_FILE_TIMEOUT seconds (default 600). A file still running
# then is reported with the test it was in (spec/support/summary.lua writes
# it to $MOONBEAM_SPEC_PROGRESS, one such file per spec file) and, where gdb
# is installed, every thread's stack of it and of its subprocesses; then it
# is killed and counted as one failure more.
#
# Each file's output is printed whole when it ends, under its name and time.
# The last line is the sum of every file's "N passed, N failed".
set -u
set -f   # the command holds ?.so patterns: no globbing
limit=${SPEC_FILE_TIMEOUT:-600}
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
jobs=${SPEC_JOBS:-$((4 * cores))}
times=${SPEC_TIMES:-}
alone=${SPEC_ALONE:-}
[ "$#" -ge 2 ] || { echo "usage: run_specs.sh 'COMMAND' SPEC_FILE..." >&2; exit 2; }
command=$1
shift

work=$(mktemp -d "${TMPDIR:-/tmp}/moonbeam-specs.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/tally.sh"

descendants() {   # descendants PID: PID and every process below it
    echo "$1"
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        descendants "$child"
    done
}

report_hang() {   # report_hang PID FILE PROGRESS
    echo "TIMEOUT  $2: still running after $limit s"
    if [ -s "$3" ]; then
        echo "  in the test: $(tail -n 1 "$3")"
    fi
    for pid in $(descendants "$1"); do
        echo "  --- the threads of pid $pid: $(ps -o args= -p "$pid" 2>/dev/null | cut -c1-100)"
        # Where each thread sleeps in the kernel: something even without gdb.
        for tid in $(ls /proc/"$pid"/task 2>/dev/null); do   # ls: this script does not glob
            task=/proc/$pid/task/$tid
            echo "  thread $tid $(cat "$task/comm" 2>/dev/null) waits in $(cat "$task/wchan" 2>/dev/null)"
        done
        command -v gdb >/dev/null 2>&1 || continue
        gdb -p "$pid" -batch -nx -ex 'thread apply all bt 30' 2>/dev/null \
            | grep -E '^(Thread|#)' | sed 's/^/  /'
    done
}

stop() {   # stop PID: the process and everything below it
    pids=$(descendants "$1")
    kill -TERM $pids 2>/dev/null
    sleep 2
    kill -KILL $pids 2>/dev/null
}

# The record of the last run: "WALL CPU FILE" lines. Where a file has none
# (a fresh clone: CI), the times kept in the repository beside this script,
# so that even a first run keeps its heavy files apart and starts the long
# ones first.
defaults="$(dirname "$0")/spec-times"
record() {
    { [ -n "$times" ] && cat "$times" 2>/dev/null; cat "$defaults" 2>/dev/null; } | awk 'NF == 3 && !seen[$3]++'
}

# order FILE...: the files, longest recorded time first; those with no
# record yet (which may be long) before all, in the order given.
order() {
    for f in "$@"; do echo "$f"; done | awk -v times="$times" '
        BEGIN { if (times != "") while ((getline line < times) > 0) { split(line, a, " "); t[a[3]] = a[1] } }
        { print (($0 in t) ? t[$0] : 999999), NR, $0 }' | sort -k1,1nr -k2,2n | cut -d' ' -f3-
}

# The files that used 2 s of CPU or more last time.
heavy=" $(record | awk '$2 >= 2 { print $3 }' | tr '\n' ' ') "
is_heavy() { case "$heavy" in *" $1 "*) return 0 ;; esac; return 1; }

# run_one N FILE: runs one file under its watchdog, in the background; its
# output, status, wall and CPU seconds and hang report go to $work/N.*, and
# N to the pipe `done` when it has ended.
run_one() {
    began=$(date +%s)
    # A background job's stdin is /dev/null: no spec may wait on the caller's.
    # shellcheck disable=SC2086
    MOONBEAM_SPEC_PROGRESS="$work/$1.progress" $command "$2" >"$work/$1.out" 2>&1 </dev/null &
    pid=$!
    # The watchdog: reports and stops the file if it is still running at the
    # limit; a file that ends in time takes the watchdog with it.
    ( sleep "$limit"; report_hang "$pid" "$2" "$work/$1.progress" >"$work/$1.hang"; stop "$pid" ) &
    watchdog=$!
    wait "$pid"
    echo $? >"$work/$1.rc"
    kill $(descendants "$watchdog") 2>/dev/null
    wait "$watchdog" 2>/dev/null
    echo $(( $(date +%s) - began )) >"$work/$1.time"
    # CPU of this subshell's children (the busted process and what it waited
    # for), from the second line of `times`, "0m1.25s 0m0.31s" (to a file: in
    # a pipe it would run in a subshell of its own, with no children).
    times >"$work/$1.times"
    awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%.1f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$work/$1.times" >"$work/$1.cpu"
    echo "$1" >&3
}

# collect: waits for the next file to end, prints its output and counts it.
collect() {
    read -r i <&3
    failed_before=$failed
    running=$((running - 1))
    [ -e "$work/$i.heavy" ] && heavy_running=$((heavy_running - 1))
    name=$(cat "$work/$i.name")
    echo "== $name ($(cat "$work/$i.time") s)"
    cat "$work/$i.out" "$work/$i.shell"
    if [ -s "$work/$i.hang" ]; then
        cat "$work/$i.hang"
        failed=$((failed + 1))
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/$i.out" | tail -n 1)
        [ -n "$line" ] && tally_counts "$line"
    else
        tally_run "$name" "$work/$i.out" "$(cat "$work/$i.rc")"
    fi
    [ "$failed" -gt "$failed_before" ] && recap "$i" "$name"
    echo "$(cat "$work/$i.time") $(cat "$work/$i.cpu") $name" >>"$work/times"
}

# recap N NAME: what a failed file said of its failures (busted's details
# from the first "Failure ->" or "Error ->" on, or the end of its output when
# it printed none, and its hang report), kept for the end of the run, where
# a CI log's tail shows it. Bounded: the whole output is above.
recap() {
    {
        echo "-- $2 (exit status $(cat "$work/$1.rc"))"
        if grep -qE '^(Failure|Error) -> ' "$work/$1.out"; then
            awk '/^(Failure|Error) -> /{on=1} on' "$work/$1.out" \
                | grep -vE '^[0-9]+ passed, [0-9]+ failed' | head -n 40
        else
            cat "$work/$1.out" "$work/$1.shell" | tail -n 15
        fi
        [ -s "$work/$1.hang" ] && head -n 5 "$work/$1.hang"
    } >>"$work/recap"
}

# start FILE: starts the next file in the background.
start() {
    n=$((n + 1))
    : >"$work/$n.progress"
    echo "$1" >"$work/$n.name"
    if is_heavy "$1"; then
        : >"$work/$n.heavy"
        heavy_running=$((heavy_running + 1))
    fi
    # What the shell says of the file's process ("Segmentation fault") goes
    # with the file's output.
    run_one "$n" "$1" 2>"$work/$n.shell" &
    running=$((running + 1))
}

# Each ended file writes its number to this pipe; opened for reading and
# writing so that neither end waits for the other to open it.
mkfifo "$work/done" || exit 1
exec 3<>"$work/done"
running=0
heavy_running=0
n=0
pending=
for file in $(order "$@"); do
    case " $alone " in
    *" $file "*) start "$file"; collect ;;   # alone: started and awaited
    *) pending="$pending $file" ;;
    esac
done
while [ -n "$pending" ]; do
    # The first file that may start now: a light one, or a heavy one while
    # fewer than one per processor run.
    next=
    if [ "$running" -lt "$jobs" ]; then
        for file in $pending; do
            if [ "$heavy_running" -lt "$cores" ] || ! is_heavy "$file"; then next=$file; break; fi
        done
    fi
    if [ -z "$next" ]; then collect; continue; fi
    start "$next"
    rest=
    for file in $pending; do [ "$file" = "$next" ] || rest="$rest $file"; done
    pending=$rest
done
while [ "$running" -gt 0 ]; do collect; done
wait

# This run's times replace the old ones; files not run keep theirs.
if [ -n "$times" ]; then
    { cat "$work/times"; [ -n "$times" ] && cat "$times" 2>/dev/null; } | awk 'NF == 3 && !seen[$3]++' >"$work/times.new" &&
        cp "$work/times.new" "$times"
fi

# The failures once more, last, where a log's tail shows them.
if [ -s "$work/recap" ]; then
    echo
    echo "== what failed"
    cat "$work/recap"
fi
echo
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
