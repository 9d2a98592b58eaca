#!/bin/sh
# run_specs.sh 'COMMAND' SPEC_FILE...
#
# Runs each spec file in its own busted process (COMMAND, split on spaces,
# followed by the file), so that a file which crashes or hangs costs that
# file alone and the run goes on. Each file has SPEC_FILE_TIMEOUT seconds
# (default 600). A file still running then is reported with the test it was
# in (spec/support/summary.lua writes it to $MOONBEAM_SPEC_PROGRESS) and,
# where gdb is installed, every thread's stack of it and of its
# subprocesses; then it is killed and counted as one failure more.
#
# Each file's output is printed when it ends, under its name and time. The
# last line is the sum of every file's "N passed, N failed".
set -u
set -f   # the command holds ?.so patterns: no globbing
limit=${SPEC_FILE_TIMEOUT:-600}
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

report_hang() {   # report_hang PID FILE
    echo "TIMEOUT  $2: still running after $limit s"
    if [ -s "$work/progress" ]; then
        echo "  in the test: $(tail -n 1 "$work/progress")"
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

for file in "$@"; do
    : >"$work/progress"
    : >"$work/hang"
    start=$(date +%s)
    # A background job's stdin is /dev/null: no spec may wait on the caller's.
    # shellcheck disable=SC2086
    MOONBEAM_SPEC_PROGRESS="$work/progress" $command "$file" >"$work/out" 2>&1 </dev/null &
    pid=$!
    # The watchdog: reports and stops the file if it is still running at the
    # limit; a file that ends in time takes the watchdog with it.
    ( sleep "$limit"; report_hang "$pid" "$file" >"$work/hang"; stop "$pid" ) &
    watchdog=$!
    wait "$pid"
    rc=$?
    kill $(descendants "$watchdog") 2>/dev/null
    wait "$watchdog" 2>/dev/null
    echo "== $file ($(( $(date +%s) - start )) s)"
    cat "$work/out"
    if [ -s "$work/hang" ]; then
        cat "$work/hang"
        failed=$((failed + 1))
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/out" | tail -n 1)
        [ -n "$line" ] && tally_counts "$line"
    else
        tally_run "$file" "$work/out" "$rc"
    fi
done

echo
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
