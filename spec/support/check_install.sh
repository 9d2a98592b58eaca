#!/bin/sh
# check_install.sh: what `make check-install` runs. Installs the rock
# (moonbeam-scm-1.rockspec) offline into ./lua_modules with the project's
# LuaRocks configuration (.luarocks/config-5.1.lua), then, from another
# directory and with nothing of the checkout on the module paths, uses what
# was installed: a plain `luajit` that requires moonbeam, and the installed
# `moonbeam` running an example. Each check prints "ok" or "FAILED"; the
# last line is "N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tree=$root/lua_modules
config=$root/.luarocks/config-5.1.lua
work=$(mktemp -d "${TMPDIR:-/tmp}/moonbeam-install.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# Nothing from the checkout or the caller's make: only what `luarocks path` says.
unset LUA_PATH LUA_CPATH LUA_PATH_5_1 LUA_CPATH_5_1 LUA_INIT
export LUAROCKS_CONFIG="$config"
luarocks="luarocks --lua-version=5.1 --tree $tree"

check() {   # check NAME COMMAND...: run COMMAND, its output in $work/out
    name=$1
    shift
    if "$@" >"$work/out" 2>&1; then
        echo "ok      $name"
        passed=$((passed + 1))
    else
        echo "FAILED  $name"
        sed 's/^/    | /' "$work/out" | tail -n 30
        failed=$((failed + 1))
    fi
}

if ! command -v luarocks >/dev/null 2>&1; then
    echo "FAILED  luarocks is not installed (make deps installs it)"
    echo "0 passed, 1 failed"
    exit 1
fi

# 1. The rock builds and installs, offline.
check "luarocks make installs the rock into ./lua_modules" \
    sh -c "cd '$root' && $luarocks make moonbeam-scm-1.rockspec"

# 2. It installed what it should, where luarocks path points.
eval "$($luarocks path)"
export PATH="$tree/bin:$PATH"
check "the tree holds moonbeam/core.so, the Lua modules and bin/moonbeam" sh -c "
    test -f '$tree/lib/lua/5.1/moonbeam/core.so' &&
    test -f '$tree/share/lua/5.1/moonbeam/init.lua' &&
    test -f '$tree/share/lua/5.1/moonbeam/gen_server.lua' &&
    test -x '$tree/bin/moonbeam' &&
    test \"\$(command -v moonbeam)\" = '$tree/bin/moonbeam'"

# 2b. LuaJIT's own jit.* modules stay on that path (.luarocks/config-5.1.lua).
check "luajit -jv and luajit -b still find LuaJIT's jit.* modules" sh -c "
    cd '$work' && luajit -jv -e 'local x = 1' && luajit -b -e 'return 1' '$work/x.bc' && test -s '$work/x.bc'"

# 3. A plain luajit, elsewhere, requires it from the tree: spawn, send, receive.
cat >"$work/use.lua" <<'EOF'
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local where = package.searchpath("moonbeam", package.path)
assert(where and where:find("/lua_modules/", 1, true), "moonbeam came from " .. tostring(where))
local pid = mb.spawn(function(parent)
  local mb = require "moonbeam"
  local msg = mb.receive()
  mb.send(parent, { "echo", msg })
end, mb.self())
mb.send(pid, { hello = "world" })
local reply = mb.receive(2000)
assert(reply and reply[1] == "echo" and reply[2].hello == "world", "no echo")
local Counter = {}
function Counter.init(n) return "ok", n end
function Counter.handle_call(_, _, n) return "reply", n + 1, n + 1 end
local server = assert(gen.start(Counter, 41))
assert(gen.call(server, "inc") == 42)
print("spawn, send, receive and gen.call work from " .. where)
EOF
check "luajit from another directory: require, spawn, send, receive" \
    sh -c "cd '$work' && luajit use.lua"

# 4. The installed executable runs an example (found as examples.<name>
#    through LUA_PATH, as a copied example would be).
check "the installed moonbeam runs examples/counter_server.lua" \
    sh -c "cd '$work' && LUA_PATH='$root/?.lua;'\"\$LUA_PATH\" moonbeam run '$root/examples/counter_server.lua'"
check "the installed moonbeam -e from another directory" \
    sh -c "cd '$work' && moonbeam -e 'print(require(\"moonbeam\").self())' | grep -q '^<0\\.'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
