-- The interactive console (`moonbeam`) and the command line, driven as a
-- person would: in a real terminal (tmux), typing lines and reading the
-- screen. See spec/support/tty.lua; `moonbeam attach` is attach_spec.lua's.

local tty = require "spec.support.tty"
local sh = require "spec.support.shell"
local T = require "spec.support.terminals"

local BIN = T.BIN
local term

-- A console in a terminal, at its first prompt.
local function console(args, extra_env)
  local t = T.start(BIN .. (args and (" " .. args) or ""), extra_env)
  t:wait_for("mb%(1%)>")
  return t
end

before_each(T.before)
after_each(T.after)

describe("the console", function()
  it("prints every expression's value: numbers, quoted strings, tables, pids", function()
    term = console()
    term:enter("1 + 1")
    term:enter([["moon" .. "beam"]])
    term:enter([[{1, 2, x = "y", [10] = true}]])
    term:enter("self()")
    local s = term:enter("40 + 2, 'two', nil")
    assert.matches("mb%(1%)> 1 %+ 1\n2\n", s)
    assert.matches('\n"moonbeam"\n', s)
    assert.matches('\n{1, 2, %[10%] = true, x = "y"}\n', s)
    assert.matches("mb%(4%)> self%(%)\n<0%.%d+%.%d+>\n", s)
    assert.matches('\n42, "two", nil\n', s)
  end)

  it("runs plain statements, and keeps globals from line to line", function()
    term = console()
    term:enter("x = 20")
    local s = term:enter("x * 2 + 2")
    assert.matches("mb%(1%)> x = 20\nmb%(2%)> ", s)
    assert.matches("\n42\n", s)
  end)

  it("marks a table that contains itself, and bounds depth and width", function()
    term = console()
    term:enter("t = {name = 'loop'} t.self = t")
    term:enter("t")
    term:enter("deep = {a = {b = {c = {d = {e = {f = {g = {}}}}}}}}")
    term:enter("deep")
    local s = term:enter("wide = {} for i = 1, 100 do wide[i] = i end return wide")
    assert.matches('<1>{name = "loop", self = <cycle 1>}', s, 1, true)
    assert.matches("{a = {b = {c = {d = {e = {f = {...}}}}}}}", s, 1, true)
    assert.matches("...(60 more)", s, 1, true)
  end)

  it("continues an incomplete chunk on the next line", function()
    term = console()
    term:enter("function double(x)")
    term:enter("  return x * 2")
    term:enter("end")
    local s = term:enter("double(21)")
    assert.matches("mb%(1%)> function double%(x%)\n%.%.%.%(1%)>   return x %* 2\n%.%.%.%(1%)> end\n", s)
    assert.matches("mb%(2%)> double%(21%)\n42\n", s)
  end)

  it("prints a runtime error with its traceback, then gives a working prompt", function()
    term = console()
    term:enter("local function f() error('boom') end f()")
    term:enter("nil + 1")
    term:enter("this is not lua")
    local s = term:enter("1 + 1")
    assert.matches("%*%* error: console:1: boom\nstack traceback:\n%s+console:1: in function 'f'\n", s)
    assert.matches("** error: console:1: attempt to perform arithmetic on a nil value", s, 1, true)
    assert.matches("** syntax error: console:1:", s, 1, true)
    assert.matches("mb%(4%)> 1 %+ 1\n2\n", s)
  end)

  it("reports a crash of a linked process as a line, and carries on", function()
    term = console()
    term:enter("spawn_link(function() error('linked boom') end)")
    local s = term:wait_for("** (EXIT from <0.", nil, true)
    assert.matches("%*%* %(EXIT from <0%.%d+%.%d+>%) crashed: console:1: linked boom", s)
    s = term:enter("1 + 1")
    assert.matches("\n2\n", s)
  end)

  it("lists three servers with ps(), busiest first", function()
    term = console()
    term:enter([[for _, n in ipairs({"alpha", "beta", "gamma"}) do ]]
      .. [[assert(gen.start("spec.support.console_counter", 0, {name = n})) end]])
    for _ = 1, 5 do term:enter([[call("beta", "increment")]]) end
    local s = term:enter("ps()")
    local table_text = s:sub((s:find("PID%s+NAME%s+MODULE%s+STATUS%s+QUEUE%s+RECEIVED%s+MEMORY")))
    for _, n in ipairs({ "alpha", "beta", "gamma" }) do
      assert.matches("<0%.%d+%.%d+>%s+" .. n .. "%s+spec%.support%.console_counter%s+waiting%s+0%s+%d+%s+[%d.]+ KB",
        table_text)
    end
    assert.is_true(table_text:find("beta") < table_text:find("alpha"), table_text)
    assert.is_true(table_text:find("beta") < table_text:find("gamma"), table_text)
    assert.matches("%(console%)", table_text)
    assert.matches("\n%d+ processes\n", table_text)
  end)

  it("lists shared tables with tables(): owner, type, size and memory", function()
    term = console()
    term:enter([[t = require("moonbeam.table").new("console_tab", {type = "bag"})]])
    term:enter([[for i = 1, 3 do require("moonbeam.table").insert(t, "k", i) end]])
    local s = term:enter("tables()")
    local text = s:sub((s:find("TABLE%s+NAME%s+OWNER%s+TYPE%s+SIZE%s+MEMORY")))
    assert.matches("#Table<%d+>%s+console_tab%s+<0%.%d+%.%d+>%s+bag protected%s+3%s+%d+ B", text)
    assert.matches("\n%d+ tables?\n", text)
  end)

  it("round-trips call and cast to a server", function()
    term = console()
    term:enter([[pid = gen.start("spec.support.console_counter", 10, {name = "counter"})]])
    term:enter([[call("counter", "increment")]])
    term:enter([[cast(pid, "increment")]])
    local s = term:enter([[call(pid, "get")]])
    assert.matches('mb%(2%)> call%("counter", "increment"%)\n11\n', s)
    assert.matches('mb%(3%)> cast%(pid, "increment"%)\ntrue\n', s)
    assert.matches('mb%(4%)> call%(pid, "get"%)\n12\n', s)
    s = term:enter([[call("nobody", "get")]])
    assert.matches('\n%*%* error: {"noproc"}\n', s)
  end)

  it("sends, flushes and kills through the helpers", function()
    term = console()
    term:enter([[send(self(), {hello = "world"})]])
    term:enter("flush()")
    term:enter([[p = spawn(function() require("moonbeam").receive() end)]])
    term:enter("kill(p)")
    local s = term:enter("info(p)")
    assert.matches('Shell got {hello = "world"}', s, 1, true)
    assert.matches("mb%(5%)> info%(p%)\nnil\n", s)
    s = term:enter("info(self()).status")
    assert.matches('\n"running"\n', s)
  end)

  it("says what tree, reload and help do", function()
    term = console()
    term:enter("help()")
    local s = term:enter([[reload("spec.support.console_counter")]])
    assert.matches("ps()", s, 1, true)
    assert.matches("tree(sup)", s, 1, true)
    assert.matches("reload: hot code reload is not available yet", s, 1, true)
  end)

  it("cancels the line on Ctrl-C and leaves with status 0 on Ctrl-D", function()
    term = console()
    -- One line first: once it is answered the line editor is up, and keys
    -- typed now are not lost to its switching the terminal's mode.
    term:enter("0")
    term:type("this line is never run")
    -- Ctrl-C is a signal and overtakes keys not read yet: wait for the echo.
    term:wait_for("mb%(2%)> this line is never run")
    term:key("C-c")
    term:wait_for("mb%(2%)> this line is never run%^C\nmb%(2%)>")
    term:enter("1 + 1")
    term:key("C-d")
    local s = term:wait_for("[exit 0]", nil, true)
    assert.not_matches("never run\n%*%*", s)
  end)

  -- Runs code that prints marker and then never returns, presses Ctrl-C
  -- and checks a new console answers. Waits for the marker, not for time: a
  -- Ctrl-C that came before it would only cancel the line being edited.
  local function interrupted(code, marker)
    term = console()
    term:type(("print('%s' .. '...') %s"):format(marker, code))
    term:key("Enter")
    term:wait_for(marker .. "...", nil, true)
    term:key("C-c")
    local s = term:wait_for("** interrupted: console <0.", nil, true)
    assert.matches("was killed; this is <0%.%d+%.%d+>", s)
    assert.matches("\n4\n", term:enter("2 + 2"))
  end

  it("interrupts a blocked evaluation on Ctrl-C with a new console", function()
    interrupted("receive()", "evaluating")
  end)

  it("interrupts a compiled loop on Ctrl-C with a new console", function()
    interrupted("local x = 0 for i = 1, 1e15 do x = x + i end", "spinning")
  end)

  it("writes the history to ~/.moonbeam_history and recalls it in the next session", function()
    term = console()
    term:enter("marker_from_the_first_session = 42")
    term:key("C-d")
    term:wait_for("[exit 0]", nil, true)
    local h = tty.read_file(T.home .. "/.moonbeam_history")
    assert.is_string(h, "no history file")
    assert.matches("^_HiStOrY_V2_\n", h)
    assert.matches("marker_from_the_first_session\\040=\\04042\n", h, 1, true)
    local second = console()
    second:key("Up")
    second:wait_for("mb%(1%)> marker_from_the_first_session = 42")
    second:key("C-u")
    local s = second:enter("marker_from_the_first_session")
    assert.matches("mb%(1%)> marker_from_the_first_session\nnil\n", s)
  end)

  it("completes globals, fields of modules and tables, and registered names on Tab", function()
    term = console()
    term:enter([[gen.start("spec.support.console_counter", 7, {name = "completion_target"})]])
    term:enter("my_settings = {verbose_level = 3}")
    term:type("string.form")
    term:key("Tab")
    term:wait_for("string.format", nil, true)
    term:type('("%d", 7)')
    local s = term:enter("")
    assert.matches('\n"7"\n', s)
    term:type("my_sett")
    term:key("Tab")
    term:wait_for("my_settings", nil, true)
    term:type(".verb")
    term:key("Tab")
    term:wait_for("my_settings.verbose_level", nil, true)
    s = term:enter("")
    assert.matches("my_settings%.verbose_level\n3\n", s)
    term:type('call("completion_t')
    term:key("Tab")
    term:wait_for('call("completion_target', nil, true)
    s = term:enter('", "get")')
    assert.matches('call%("completion_target", "get"%)\n7\n', s)
  end)

  it("does not offer moonbeam's internal names on Tab, only its API", function()
    term = console()
    -- Each line is typed, completed with Tab, then run: what it shows is
    -- what completion made of it. The internal names (docs/reference.md
    -- lists the public ones) would complete these prefixes.
    local cases = {
      { "mb.sup_", "mb.sup_" },             -- sup_start
      { "mb.console_", "mb.console_" },     -- console_open
      { "mb.wai", "mb.wai" },               -- wait
      { "mb.rec", "mb.receive" },           -- recv, beside receive
      { "mb.call_b", "mb.call_b" },         -- call_begin
      { "mb.call_t", "mb.call_t" },         -- call_take
      { "mb._max", "mb._max" },             -- _max_timeout
      { "gen._hand", "gen._hand" },         -- _handshake
      { "gen.ent", "gen.ent" },             -- enter
      { "mb.queue_", "mb.queue_len" },      -- public: still offered
      { "gen.try_", "gen.try_call" },       -- public: still offered
    }
    local s
    for _, c in ipairs(cases) do
      term:type(c[1])
      term:key("Tab")
      s = term:enter("")
    end
    for _, c in ipairs(cases) do
      assert.is_truthy(s:find("> " .. c[2] .. "\n", 1, true),
        ("%q was completed to something else than %q:\n%s"):format(c[1], c[2], s))
    end
  end)

  it("runs -l and -e in the console before the first prompt", function()
    term = console("-i -l spec.support.console_counter -e 'greeting = \"hi\"'")
    local s = term:enter("type(console_counter.init), greeting")
    assert.matches('\n"function", "hi"\n', s)
  end)
end)

describe("the moonbeam command line", function()
  it("--version prints the version and exits 0", function()
    local status, out = sh.run(BIN .. " --version")
    assert.equal(0, status)
    assert.matches("^moonbeam %d+%.%d+%.%d+ %(LuaJIT", out)
  end)

  it("--help describes the console, attach, -e, -l and --console-socket", function()
    local status, out = sh.run(BIN .. " --help")
    assert.equal(0, status)
    for _, word in ipairs({ "attach SOCKET", "-e CODE", "-l MODULE", "--console-socket PATH", "--schedulers N",
                            "--max-processes N", "console" }) do
      assert.matches(word, out, 1, true)
    end
  end)

  it("-e runs code as the first process: exit 0, or 1 when it fails", function()
    local status, out = sh.run(BIN .. [[ -e 'print(1 + 1)']])
    assert.equal(0, status)
    assert.equal("2\n", out)
    local err
    status, out, err = sh.run(BIN .. [[ -e 'error("bad code")']])
    assert.equal(1, status)
    assert.matches("bad code", err, 1, true)
  end)

  it("-l requires a module as a global before -e and the script", function()
    local script = sh.script("print(type(console_counter.init), arg[1])")
    local status, out, err = sh.run(BIN .. " -l spec.support.console_counter -e 'print(arg[1])' run "
      .. sh.quote(script) .. " x")
    assert.equal(0, status, err)
    assert.equal("x\nfunction\tx\n", out)
  end)

  it("takes host options after `run SCRIPT`, and `--` ends them", function()
    local script = sh.script("print(select('#', ...), ...)")
    local status, out = sh.run(BIN .. " run " .. sh.quote(script) .. " --schedulers 2 a -- b")
    assert.equal(0, status)
    assert.equal("3\ta\t--\tb\n", out)
    status, out = sh.run(BIN .. " run " .. sh.quote(script) .. " -- --schedulers 2")
    assert.equal(0, status)
    assert.equal("2\t--schedulers\t2\n", out)
  end)

  it("exits 2 with a clear message on a usage error", function()
    local cases = {
      { "attach", "attach needs the path" },
      { "attach a b", "attach takes one argument" },
      { "--console-socket", "--console-socket needs a path" },
      { "-e", "-e needs some code" },
      { "-l", "-l needs a module name" },
      { "script.lua", "unknown command 'script.lua'" },
      { "--bogus", "unknown option '--bogus'" },
    }
    for _, c in ipairs(cases) do
      local status, out, err = sh.run(BIN .. " " .. c[1])
      assert.equal(2, status, c[1])
      assert.equal("", out, c[1])
      assert.matches(c[2], err, 1, true)
    end
  end)

  it("evaluates lines from a pipe without line editing", function()
    local status, out, err = sh.run("printf '1 + 1\\nx = 3\\nx * 2\\n' | env HOME=" .. sh.quote(T.home) .. " " .. BIN)
    assert.equal(0, status, err)
    assert.matches("\n2\n6\n$", out)
  end)
end)
