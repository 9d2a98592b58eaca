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
}

step "specs" spec
step "the core alone, from C (no LuaJIT)" core-test
step "the LuaRocks package, installed into ./lua_modules" check-install
step "specs under AddressSanitizer + UndefinedBehaviorSanitizer" asan
step "the core alone under ASan + UBSan" core-test-asan
step "specs under ThreadSanitizer" tsan
step "the core alone under TSan" core-test-tsan
step "fuzzing the message decoder" fuzz-short

rm -rf "$log"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && exit "$status"
exit 1
