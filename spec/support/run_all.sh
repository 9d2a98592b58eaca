#!/bin/sh
# run_all.sh: what `make test` runs after the build. The spec suite in the
# plain build, the core's own C test (spec/core), the LuaRocks install
# (check-install), both again under ASan+UBSan and under TSan, then a short
# fuzz of the message decoder. Each
# run prints "N passed, N failed"; this script adds them up and prints the
# total as its last line.
set -u
MAKE=${MAKE:-make}
log=$(mktemp -d)
. "$(dirname "$0")/tally.sh"
status=0

step() {   # step NAME TARGET
    echo "== $1"
    # Printed as it comes (a CI that stops mid-run still shows how far it got).
    { $MAKE --no-print-directory "$2" 2>&1; echo $? >"$log/$2.rc"; } | tee "$log/$2.out"
    rc=$(cat "$log/$2.rc")
    tally_run "make $2" "$log/$2.out" "$rc"
    [ "$rc" -ne 0 ] && status=1
    # What failed in this step, for the recap at the end: a spec run's own
    # recap, else the step's last lines.
    if [ "$rc" -ne 0 ]; then
        {
            echo "== $1 (make $2)"
            if grep -q '^== what failed$' "$log/$2.out"; then
                sed -n '/^== what failed$/,$p' "$log/$2.out" | sed 1d | grep -vE '^[0-9]+ passed, [0-9]+ failed'
            else
                tail -n 15 "$log/$2.out"
            fi
        } >>"$log/recap"
    fi
}

step "specs" spec
step "the core alone, from C (no LuaJIT)" core-test
step "the LuaRocks package, installed into ./lua_modules" check-install
step "specs under AddressSanitizer + UndefinedBehaviorSanitizer" asan
step "the core alone under ASan + UBSan" core-test-asan
step "specs under ThreadSanitizer" tsan
step "the core alone under TSan" core-test-tsan
step "fuzzing the message decoder" fuzz-short

# The failures once more, last, where a CI log's tail shows them.
if [ -s "$log/recap" ]; then
    echo
    echo "== what failed, step by step"
    cat "$log/recap"
fi
rm -rf "$log"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && exit "$status"
exit 1
