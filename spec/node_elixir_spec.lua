-- Elixir nodes (docs/reference.md, "Nodes"): an Elixir node calls, casts
-- to and stops a Lua gen_server with GenServer's functions, and a Lua
-- process calls, casts to and stops an Elixir GenServer, against real
-- elixir nodes (Debian's elixir, on erlang-base).

local N = require "spec.support.nodes"

if not N.have_elixir() then
  describe("Elixir nodes", function()
    pending("elixir is not installed (make deps installs it)")
  end)
  return
end

describe("Elixir nodes", function()
  setup(function() N.epmd() end)
  teardown(function() N.cleanup() end)

  it("answer GenServer.call, cast and stop from Elixir with a Lua gen_server", function()
    local alive, full = N.name("lua")
    local ready, done = N.barrier(), N.barrier()
    local lua = N.moonbeam("--sname " .. alive .. " --cookie e1", [[
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      assert(gen.start("spec.support.node_kv", nil, { name = "kv" }))
      local mon = mb.monitor("kv")
      io.open(arg[1], "w"):close()
      local m = mb.receive()
      print(m[2] == mon, m[5])
      while not io.open(arg[2]) do mb.sleep(20) end
    ]], { ready, done })
    local ex = N.elixir(N.name("ex"), "e1", N.EX_WAIT_FILE .. ([[
      wait_file.("%s")
      n = :"%s"
      :ok = GenServer.call({:kv, n}, {:put, "k", 1})
      {:ok, v} = GenServer.call({:kv, n}, {:get, "k"})
      IO.inspect(v)
      GenServer.cast({:kv, n}, {:put, "c", [1, 2.5, :x]})
      {:ok, c} = GenServer.call({:kv, n}, {:get, "c"})
      IO.inspect(c)
      IO.inspect(GenServer.call({:kv, n}, :nope))
      IO.inspect(GenServer.stop({:kv, n}, :shutdown))
      IO.inspect(try do GenServer.call({:kv, n}, {:get, "k"}) catch :exit, {r, _} -> r end)
      File.write!("%s", "")
    ]]):format(ready, full, done))
    local estatus, eout, eerr = ex:wait(120000)
    local status, out, err = lua:wait(120000)
    assert.equal(0, estatus, eerr)
    assert.equal('1\n[1, 2.5, :x]\n{:error, "bad request"}\n:ok\n:noproc\n', eout)
    assert.equal(0, status, err)
    assert.equal("true\tshutdown\n", out)
  end)

  it("let a Lua process call, cast to and stop an Elixir GenServer", function()
    local ready, done = N.barrier(), N.barrier()
    local exalive, exfull = N.name("ex")
    local ex = N.elixir(exalive, "e2", N.EX_WAIT_FILE .. ([[
      defmodule Counter do
        use GenServer
        def init(n), do: {:ok, n}
        def handle_call({:add, k}, _from, n), do: {:reply, {:ok, n + k}, n + k}
        def handle_call(:get, _from, n), do: {:reply, n, n}
        def handle_cast({:add, k}, n), do: {:noreply, n + k}
      end
      {:ok, _} = GenServer.start(Counter, 10, name: :counter)
      File.write!("%s", "")
      wait_file.("%s")
    ]]):format(ready, done))
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie e2", N.LUA_CONNECT .. [[
      local gen = require "moonbeam.gen_server"
      local ex = erl
      local r = gen.call({"counter", ex}, mb.tuple(A"add", 5))
      say(mb.kind(r), r[1] == A"ok", r[2])
      gen.cast({"counter", ex}, mb.tuple(A"add", 2))
      say(gen.call({"counter", ex}, A"get"))
      local ok, e = pcall(gen.call, {"nobody", ex}, A"get", 30000)
      say(ok, e[1])
      say(gen.stop({"counter", ex}, "shutdown"))
      ok, e = pcall(gen.call, {"counter", ex}, A"get", 30000)
      say(ok, e[1])
      io.open(arg[3], "w"):close()
    ]], { exfull, ready, done })
    local status, out, err = lua:wait(120000)
    ex:wait(120000)
    assert.equal(0, status, err)
    assert.equal("tuple\ttrue\t15\n17\nfalse\tnoproc\ntrue\nfalse\tnoproc\n", out)
  end)
end)
