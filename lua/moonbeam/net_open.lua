--- moonbeam.net_open: the part of moonbeam.net a socket's owner that only
-- sends, receives and closes never needs, put into moonbeam.net's table by
-- it on first use (see lua/moonbeam/net.lua). Not API. await and
-- timeout_of are moonbeam.net's.
local core = require "moonbeam.core"

local type = type

return function(M, await, timeout_of)
  --- listen(port, [opts]) -> listener, or nil, err
  function M.listen(port, opts) return await(core.net_listen(port, opts)) end

  --- connect(host, port, [opts], [timeout]) -> socket, or nil, err
  function M.connect(host, port, opts, timeout)
    local t = timeout_of(timeout, "net.connect")
    return await(core.net_connect(host, port, opts), t, nil)
  end

  --- accept(l, [timeout]) -> socket, or nil, "timeout" | "closed" | err
  function M.accept(l, timeout)
    local t = timeout_of(timeout, "net.accept")
    return await(core.net_accept(l), t, l)
  end

  --- shutdown(s, "write") -> true, or nil, "closed"
  function M.shutdown(s, how) return await(core.net_shutdown(s, how)) end

  --- setopts(s, opts) -> true, or nil, "not_owner" | "closed"
  function M.setopts(s, opts) return await(core.net_setopts(s, opts)) end

  --- peername(s) -> host, port; sockname(s) -> host, port (a unix socket: its path)
  function M.peername(s) return await(core.net_name(s, true)) end
  function M.sockname(s) return await(core.net_name(s, false)) end

  --- udp_open(port, [opts]) -> socket, or nil, err
  function M.udp_open(port, opts) return await(core.net_udp_open(port, opts)) end

  --- sendto(s, host, port, data) -> true, or nil, "closed" | err
  function M.sendto(s, host, port, data) return await(core.net_sendto(s, host, port, data)) end

  --- recvfrom(s, [timeout]) -> data, host, port, or nil, "closed" | "timeout" | err
  function M.recvfrom(s, timeout)
    local t = timeout_of(timeout, "net.recvfrom")
    return await(core.net_recvfrom(s), t, s)
  end

  local ACTIVE_TAGS = { tcp = true, tcp_closed = true, tcp_error = true, tcp_passive = true,
                        udp = true, udp_passive = true }

  -- Internal, shared with moonbeam.port: hand s over to pid, forwarding the
  -- caller's queued messages tagged in tags. Its caller (fn) must not
  -- tail-call it: a bad pid raises at fn's caller, level 3.
  function M._hand_over(s, pid, tags, fn)
    if not core.is_pid(pid) then error(fn .. ": a pid expected, got " .. type(pid), 3) end
    local active, once = await(core.net_setopts(s, { active = false }, fn))
    if not active then return nil, once end
    local mb = require "moonbeam"
    -- Taken out of the mailbox; the loop sends them on once pid owns s, so
    -- pid never reads one about a socket it does not own yet. To itself:
    -- the messages stay where they are (forwarding them to the caller's
    -- own mailbox would find them again, for ever).
    local moved = {}
    while pid ~= mb.self() do
      local m = mb.receive(function(m)
        return type(m) == "table" and m[2] == s and tags[m[1]] == true
      end, 0)
      if m == nil then break end
      moved[#moved + 1] = m
    end
    local ok, err = await(core.net_handover(s, pid, active, once, moved))
    -- Not handed over (s closed meanwhile): its messages go on all the same.
    if not ok then for _, m in ipairs(moved) do mb.send(pid, m) end end
    return ok, err
  end

  --- controlling_process(s, pid) -> true, or nil, "not_owner" | "closed".
  -- As gen_tcp: the socket goes passive, the active messages about it
  -- already in the caller's mailbox are sent on to pid in order, then pid
  -- owns it and its active mode is what it was.
  function M.controlling_process(s, pid)
    local ok, err = M._hand_over(s, pid, ACTIVE_TAGS, "net.controlling_process")
    if ok then return ok end   -- true alone, no trailing nil
    return ok, err
  end
end
