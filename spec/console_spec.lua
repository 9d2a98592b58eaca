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
    assert.matches("mb%(1%)> x = 20\n20\nmb%(2%)> ", s)
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
    term:enter("undefinedvar.x")
    term:enter("1 + 2 -- a comment")
    local s = term:enter("1 + 1")
    assert.matches("%*%* error: console:1: boom\nstack traceback:\n%s+console:1: in function 'f'\n", s)
    assert.matches("** error: console:1: attempt to perform arithmetic on a nil value", s, 1, true)
    assert.matches("** syntax error: console:1:", s, 1, true)
    -- One line is line 1, an index as well (LuaJIT counted it on the line
    -- of the wrapper's closing parenthesis).
    assert.matches("** error: console:1: attempt to index global 'undefinedvar'", s, 1, true)
    assert.matches("mb%(5%)> 1 %+ 2 %-%- a comment\n3\n", s)
    assert.matches("mb%(6%)> 1 %+ 1\n2\n", s)
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
    assert.matches('\n%*%* error: noproc: gen_server.call%("nobody", "get"%)\n', s)
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
    assert.matches("reload: spec.support.console_counter reloaded; 0 processes took the new code", s, 1, true)
    term:enter([[pid = gen.start("spec.support.console_counter", 10)]])
    s = term:enter([[reload("spec.support.console_counter")]])
    assert.matches("reload: spec.support.console_counter reloaded; 1 process took the new code", s, 1, true)
    s = term:enter([[reload("spec.support.no_such_module")]])
    assert.matches("reload: spec.support.no_such_module was not reloaded: module 'spec.support.no_such_module' not found",
      s, 1, true)
    s = term:enter("tree(pid)")
    assert.matches("tree: <0%.%d+%.%d+> is not a supervisor %(it runs spec%.support%.console_counter%)", s)
    term:enter([[top_sup = sup.start_link({{id = "c", module = "spec.support.console_counter", arg = 0}})]])
    s = term:enter("tree(top_sup)")
    assert.matches("`%- c  <0%.%d+%.%d+>  worker  permanent", s)
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
  -- and checks the same console answers, its globals kept. Waits for the
  -- marker, not for time: a Ctrl-C that came before it would only cancel
  -- the line being edited.
  local function interrupted(code, marker)
    term = console()
    term:enter("kept = 41")
    local me = term:enter("self()"):match("(<0%.%d+%.%d+>)\nmb%(3%)>")
    term:type(("print('%s' .. '...') %s"):format(marker, code))
    term:key("Enter")
    term:wait_for(marker .. "...", nil, true)
    term:key("C-c")
    local s = term:wait_for("** interrupted\nstack traceback:\n", nil, true)
    assert.not_matches("was killed", s, 1, true)
    assert.matches("\n42\n", term:enter("kept + 1"))
    assert.matches("\n" .. me:gsub("%p", "%%%0") .. "\n", term:enter("self()"))
  end

  it("interrupts a blocked evaluation on Ctrl-C; the console and its globals stay", function()
    interrupted("receive()", "evaluating")
  end)

  it("interrupts a loop on Ctrl-C; the console and its globals stay", function()
    interrupted("local x = 0 for i = 1, 1e15 do x = x + i end", "spinning")
  end)

  it("interrupts a call that waits on a busy server on Ctrl-C", function()
    interrupted([[call(spawn(function() require("moonbeam").sleep("infinity") end), "x", "infinity")]], "calling")
  end)

  -- A system call that blocks (a FIFO's open) is where no kill lands: a new
  -- console takes over the terminal at once, and the old one ends (saying
  -- nothing more) when its call returns.
  it("replaces a console stuck in a system call about a second after Ctrl-C", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    term = console()
    term:type(("print('opening' .. '...') io.open(%q)"):format(fifo))
    term:key("Enter")
    term:wait_for("opening...", nil, true)
    term:key("C-c")
    local s = term:wait_for("was killed; this is", 5000, true)
    assert.matches("interrupted: console <0%.%d+%.%d+> was killed", s)
    assert.matches("\n4\n", term:enter("2 + 2"))
    assert(os.execute("echo x > " .. fifo))   -- the old one's open returns; it ends
    assert.matches("\n6\n", term:enter("3 + 3"))
    os.remove(fifo)
  end)

  it("shows top() until Ctrl-C, then the prompt", function()
    term = console()
    term:type("top('memory', 5)")
    term:key("Enter")
    local s = term:wait_for("(Ctrl-C ends top)", nil, true)
    assert.matches("%d+ processes, by memory", s)
    assert.matches("PID%s+NAME%s+MODULE%s+STATUS%s+QUEUE%s+RECEIVED%s+MEMORY%s+REDUCTIONS", s)
    term:key("C-c")
    assert.matches("\n4\n", term:enter("2 + 2"))
  end)

  it("prints a crash report above the line being typed, and redraws it", function()
    local go = T.home .. "/go"
    term = console(nil, { MOONBEAM_CRASH_LOG = "1" })
    term:enter([[s = gen.start("spec.support.gs_script", {})]])
    term:enter(([[spawn(function(s) local mb = require "moonbeam" ]]
      .. [[while not io.open(%q) do mb.sleep(20) end mb.send(s, {"crash", "late kaboom"}) end, s)]]):format(go))
    term:type("half typed")
    term:wait_for("mb%(3%)> half typed")
    assert(io.open(go, "w")):close()
    local s = term:wait_for("late kaboom.*\nmb%(3%)> half typed\n$")
    local _, n = s:gsub("mb%(3%)> half typed", "")
    assert.equal(1, n, s)
    term:key("C-u")
    assert.matches("\n3\n", term:enter("1 + 2"))
  end)

  it("keeps earlier results for v(), echoes assignments, and knows sup and alive", function()
    term = console()
    term:enter("20 + 1")
    term:enter("'second'")
    local s = term:enter("v(1) * 2")
    assert.matches("mb%(3%)> v%(1%) %* 2\n42\n", s)
    s = term:enter("v()")
    assert.matches("mb%(4%)> v%(%)\n42\n", s)
    s = term:enter("v(-3)")
    assert.matches('mb%(5%)> v%(%-3%)\n"second"\n', s)
    s = term:enter([[p = spawn(function() require("moonbeam").receive() end)]])
    assert.matches("mb%(6%)> p = spawn[^\n]*\n<0%.%d+%.%d+>\n", s)
    s = term:enter("a, b = 1, 'two'")
    assert.matches("mb%(7%)> a, b = 1, 'two'\n1, \"two\"\n", s)
    s = term:enter("alive(p), alive('nobody'), type(sup.start_link)")
    assert.matches('\ntrue, false, "function"\n', s)
    term:enter("kill(p)")
    s = term:enter("alive(p)")
    assert.matches("mb%(10%)> alive%(p%)\nfalse\n", s)
    -- A chunk's own return values come before the echo of its assignment.
    s = term:enter("c = 5; return 7")
    assert.matches("mb%(11%)> c = 5; return 7\n7\n", s)
    s = term:enter("v()")
    assert.matches("mb%(12%)> v%(%)\n7\n", s)
  end)

  it("shows a server's callback module, where a process waits, and its first messages", function()
    term = console()
    term:enter([[gen.start("spec.support.console_counter", 0, {name = "counted"})]])
    local s = term:enter([[info("counted").module]])
    assert.matches('\n"spec.support.console_counter"\n', s)
    term:enter([[p = spawn(function() local mb = require "moonbeam" ]]
      .. [[mb.receive(function(m) return m == "last" end) end)]])
    term:enter([[send(p, {"one"}) send(p, "two") send(p, {3})]])
    -- Readable while it waits: it may still be looking at what came.
    s = term:enter("for _ = 1, 500 do m = info(p, {messages = 2}).messages if type(m) == 'table' then break end "
      .. "sleep(10) end return m")
    assert.matches('\n{{"one"}, "two"}\n', s)
    -- Read while it waits, its messages leave its status "waiting" (the
    -- peek woke it for a moment: it was shown "runnable").
    s = term:enter("info(p, {messages = 1}).status")
    assert.matches('\n"waiting"\n', s)
    s = term:enter("info(p).current_function")
    assert.matches('\n"console:1"\n', s)
    s = term:enter([[call("counted", "decrement")]])
    assert.matches('\n{"unknown", "decrement"}\n', s)
    s = term:enter([[ps("memory")]])
    assert.matches("PID%s+NAME%s+MODULE%s+STATUS%s+QUEUE%s+RECEIVED%s+MEMORY%s+REDUCTIONS", s)
    s = term:enter([[ps("colour")]])
    assert.matches('ps: sort by "reductions", "memory" or "queue", not "colour"', s, 1, true)
  end)

  -- Ended by SIGTERM while it edited a line, it left the terminal in the
  -- editor's raw mode, with no echo.
  it("puts the terminal back when a SIGTERM ends it", function()
    local pidfile = os.tmpname()
    finally(function() os.remove(pidfile) end)
    term = T.start(("sh -c 'echo $$ > %s; exec %s'; stty -a"):format(pidfile, BIN))
    term:wait_for("mb%(1%)>")
    local pid = tty.read_file(pidfile):match("%d+")
    assert.is_true(os.execute("kill -TERM " .. pid) == 0)
    local s = term:wait_for("[exit", nil, true)
    assert.matches("[ ;]icanon[ ;\n]", s)
    assert.matches("[ ;]echo[ ;\n]", s)
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
    term:enter([[rg = require "moonbeam.registry"]])
    term:enter([[lg = require "moonbeam.logger"]])
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
      { "mb.tab_", "mb.tab_" },             -- tab_new and the others behind moonbeam.table
      { "mb.net_", "mb.net_" },             -- net_connect and the others behind moonbeam.net
      { "mb.queue_", "mb.queue_len" },      -- public: still offered
      { "gen.try_", "gen.try_call" },       -- public: still offered
      { "mb.unl", "mb.unlink" },            -- public, bound on a first look-up
      { "mb.cancel_", "mb.cancel_timer" },  -- likewise
      { "gen.sto", "gen.stop" },            -- public in gen_server
      { "rg.take", "rg.take" },             -- take_for_spawn
      { "rg.whe", "rg.whe" },               -- whereis_via
      { "rg.sta", "rg.start_link" },        -- public, beside serve_started's "s"
      { "lg.rep", "lg.rep" },               -- report
      { "lg.rem", "lg.remove_handler" },    -- public
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
    -- A module that cannot be loaded: require's message, from no internal place.
    status, out, err = sh.run(BIN .. " -l no.such.module -e 'print(1)'")
    assert.equal(1, status)
    local first = err:match("^[^\n]*")
    assert.equal("moonbeam: -e: module 'no.such.module' not found:", first)
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

  it("names the typed line, not its own code, when a helper refuses its arguments; prints atoms as mb.atom", function()
    local lines = { "reload()", "reload('x', 5)", "top('bad')", "ps('bad')", "alive(5)", "mb.atom('ok')" }
    for i, line in ipairs(lines) do lines[i] = sh.quote(line) end
    local status, out, err = sh.run("printf '%s\\n' " .. table.concat(lines, " ") ..
      " | env HOME=" .. sh.quote(T.home) .. " " .. BIN)
    assert.equal(0, status, err)
    assert.not_matches("[string", out, 1, true)
    for _, line in ipairs({
      "** error: console:1: reload: module must be a module name (a non-empty string without NUL bytes), got nil",
      "** error: console:1: reload: opts must be a table",
      "** error: console:1: top: sort by \"reductions\", \"memory\" or \"queue\", not \"bad\"",
      "** error: console:1: ps: sort by \"reductions\", \"memory\" or \"queue\", not \"bad\"",
      "** error: console:1: alive: a pid or a registered name expected, got number",
      "\nmb.atom(\"ok\")\n",
    }) do
      assert.matches(line, out, 1, true)
    end
  end)

  -- Lines through a pipe, the console's output back.
  local function piped(lines, env)
    for i, line in ipairs(lines) do lines[i] = sh.quote(line) end
    local status, out, err = sh.run("printf '%s\\n' " .. table.concat(lines, " ") ..
      " | env HOME=" .. sh.quote(T.home) .. " " .. (env or "") .. " " .. BIN)
    assert.equal(0, status, err)
    return out
  end

  it("sends no line over 1 MiB, says so, and goes on with the next", function()
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write('x = "', string.rep("a", 1100000), '"\n', "1 + 1\n")
    f:close()
    local status, out, err = sh.run("env HOME=" .. sh.quote(T.home) .. " " .. BIN .. " < " .. sh.quote(input))
    os.remove(input)
    assert.equal(0, status, err)
    assert.matches("\n2\n$", out)
    assert.matches("a line of 1100006 bytes is more than the console takes (1 MiB): not sent", err, 1, true)
  end)

  it("gives up on a console process that keeps ending, and says why in the host's log", function()
    local lines = {}
    for i = 1, 6 do lines[i] = 'mb.exit("again")' end
    local status, out, err = sh.run("printf '%s\\n' " .. table.concat((function()
      local q = {}
      for i, l in ipairs(lines) do q[i] = sh.quote(l) end
      return q
    end)(), " ") .. " | env HOME=" .. sh.quote(T.home) .. " " .. BIN)
    assert.equal(0, status, err)
    assert.matches("the console process keeps ending; giving up", out, 1, true)
    assert.matches("console: its process ended 5 times within 10000 ms; that terminal's session is closed", err, 1, true)
  end)

  it("shows io.write's result, the console's output, as a file, and chains writes on it", function()
    local out = piped({ 'io.write("hi", 1, "\\n")', 'io.write("a"):write("b\\n")' })
    assert.matches("\nhi1\nfile %(console%)\nab\nfile %(console%)\n$", out)
  end)

  it("continues an expression cut short on the next line: 1 +, a table, a ..", function()
    local out = piped({ "1 +", "2", "{1,", "2}", '"a" ..', '"b"' })
    assert.not_matches("syntax error", out, 1, true)
    assert.matches('\n3\n{1, 2}\n"ab"\n$', out)
  end)

  it("prints a table or an atom raised, in an error or a linked crash, as a value", function()
    local out = piped({ "spawn_link(function() error({code = 1}) end)", "sleep(200)",
                        "spawn_link(function() error(require('moonbeam').atom('boom')) end)", "sleep(200)",
                        "error(mb.atom('atomerr'))" }, "MOONBEAM_CRASH_LOG=0")
    assert.matches("%*%* %(EXIT from <0%.%d+%.%d+>%) crashed: {code = 1}\n", out)
    assert.matches('%*%* %(EXIT from <0%.%d+%.%d+>%) crashed: mb%.atom%("boom"%)\n', out)
    assert.matches('** error: mb.atom("atomerr")\n', out, 1, true)
  end)

  it("send to the text of a pid that ended drops the message, as mb.send does", function()
    local out = piped({ "p = spawn(function() end)", "sleep(100)", "send(p, 1)", "send(tostring(p), 1)",
                        'send("<0.99999.1>", 1)' })
    assert.matches("\ntrue\ntrue\ntrue\n$", out)
  end)

  it("raises in tree for a pid of a process that ended; info gives nil, kill true", function()
    local out = piped({ "p = spawn(function() end)", "sleep(100)", "tree(p)", "info(p)", "kill(p)" })
    assert.matches("%*%* error: console:1: tree: no process <0%.%d+%.%d+>\n", out)
    assert.matches("\nnil\ntrue\n$", out)
  end)

  it("evaluates lines from a pipe without line editing", function()
    local status, out, err = sh.run("printf '1 + 1\\nx = 3\\nx * 2\\n' | env HOME=" .. sh.quote(T.home) .. " " .. BIN)
    assert.equal(0, status, err)
    assert.matches("\n2\n3\n6\n$", out)
  end)
end)
