-- bench/compute.lua — pure Lua computation in one process: what LuaJIT's
-- compiled loops cost, for comparing LuaJIT builds (bench/checkhook.sh).
--
--   moonbeam run bench/compute.lua [SCALE]
--
-- Four kernels, each run once to warm up (and compile) and then timed:
--   numeric  a float sum, two instructions a turn: the worst case for a
--            check added to every turn of a loop
--   mandel   Mandelbrot escape counts over a 1000x1000 grid: nested float loops
--   sieve    a sieve of Eratosthenes over an array of 4M booleans, 5 times
--   pairs    sums over a 1000-key string-keyed table with pairs()
-- Reports compute_<kernel>_ms and compute_total_ms. SCALE (default 1)
-- multiplies the work; no Erlang peer.
local u = require "bench.lib.util"

local SCALE = tonumber(arg and arg[1]) or 1

local function numeric(n)
  local x = 0.0
  for i = 1, n do x = x + i * 0.5 end
  return x
end

local function mandel(size, iters)
  local inside = 0
  for py = 0, size - 1 do
    local ci = py * 2.0 / size - 1.0
    for px = 0, size - 1 do
      local cr = px * 3.0 / size - 2.0
      local zr, zi, k = 0.0, 0.0, 0
      while k < iters and zr * zr + zi * zi < 4.0 do
        zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
        k = k + 1
      end
      if k == iters then inside = inside + 1 end
    end
  end
  return inside
end

local function sieve(n, rounds)
  local count
  for _ = 1, rounds do
    local composite = {}
    count = 0
    for i = 1, n do composite[i] = false end
    for i = 2, n do
      if not composite[i] then
        count = count + 1
        for j = i * i, n, i do composite[j] = true end
      end
    end
  end
  return count
end

local keyed = {}
for i = 1, 1000 do keyed["key" .. i] = i end
local function sum_pairs(rounds)
  local s = 0
  for _ = 1, rounds do
    for _, v in pairs(keyed) do s = s + v end
  end
  return s
end

local kernels = {
  { "numeric", numeric, math.floor(300000000 * SCALE), 1 },
  { "mandel", mandel, math.floor(1000 * math.sqrt(SCALE)), 200 },
  { "sieve", sieve, math.floor(4000000 * SCALE), 5 },
  { "pairs", sum_pairs, math.floor(60000 * SCALE), 1 },
}

local total = 0
for _, k in ipairs(kernels) do
  local name, fn, a, b = k[1], k[2], k[3], k[4]
  fn(math.max(1, math.floor(a / 10)), b)       -- warm up
  local t0 = u.now_us()
  local r = fn(a, b)
  local ms = (u.now_us() - t0) / 1e3
  assert(r == r, name .. " computed nothing")
  u.result("compute_" .. name .. "_ms", ms, "ms")
  total = total + ms
end
u.result("compute_total_ms", total, "ms")
