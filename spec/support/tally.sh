# tally.sh: adding up runs that print "N passed, N failed[, N skipped]" as
# their last such line. Sourced by run_all.sh (a step of make test) and
# run_specs.sh (a spec file).
passed=0
failed=0
skipped=0

# tally_counts LINE: add LINE's counts.
tally_counts() {
    passed=$((passed + $(echo "$1" | sed -E 's/^([0-9]+) passed.*/\1/')))
    failed=$((failed + $(echo "$1" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')))
    s=$(echo "$1" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
    skipped=$((skipped + ${s:-0}))
}

# tally_run NAME OUTPUT_FILE STATUS: add what a run printed. A run with no
# summary, or one that exited non-zero after a summary of no failures (it
# died after it), counts one failure more.
tally_run() {
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAILED  $1: exited with status $3 and no summary"
        failed=$((failed + 1))
        return
    fi
    tally_counts "$line"
    if [ "$3" -ne 0 ] && echo "$line" | grep -q ', 0 failed'; then
        echo "FAILED  $1: exited with status $3 after its summary"
        failed=$((failed + 1))
    fi
}
