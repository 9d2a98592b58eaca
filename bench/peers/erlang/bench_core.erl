%% bench_core — moonbeam's benchmark workloads, written for Erlang/OTP.
%%
%% Each workload mirrors a script in bench/*.lua and prints the same
%% RESULT<TAB>key<TAB>value<TAB>unit lines, so bench/table.lua can put the
%% two side by side. bench/run.sh runs every workload in a fresh VM (as it
%% runs every moonbeam script in a fresh host), e.g.
%%
%%   erlc -o /tmp/x bench/peers/erlang/bench_core.erl
%%   erl -noshell -pa /tmp/x -run bench_core main pingpong 2000000
%%
%% Workloads and arguments:
%%   spawn    N Label   spawn N idle processes; spawn_<Label>_us, idle_proc_<Label>_kb
%%   spawn_exit N       N processes, 1000 alive at most, each tells and ends; spawn_exit_us
%%   pingpong N         N round trips between two processes; pingpong_rt_us
%%   pause    N         N times: a 2 ms pause, a round trip to a waiting process;
%%                     a pause, a spawn that sends one message back; medians
%%                     pause_rt_us, pause_spawn_us
%%   send     N         N one-way messages to a counting consumer; send_msgs_per_s
%%   ring     Size Hops token around a ring of Size processes; ring_hops_per_s
%%   timers   N SpanMs  N send_after timers over 0..SpanMs; timer_late_p50/p99_ms
%%   idle     N Ms      N idle processes, CPU% of the VM over Ms; idle_cpu_pct
%%   fairness_pp Ms Spinners   round trips for Ms, idle then with Spinners
%%                     spinning processes; fair_pp_idle_*, fair_pp_spin_*
%%   fairness_timers N SpanMs  timer lateness, idle then with one spinner;
%%                     fair_timer_idle_p99_ms, fair_timer_spin_*
%%   (run the fairness workloads with +S 2:2, as bench/run.sh does)
-module(bench_core).
-export([main/1]).

main([Workload | Args]) ->
    Ints = [list_to_integer(A) || A <- Args, is_int(A)],
    Labels = [A || A <- Args, not is_int(A)],
    try run(list_to_atom(Workload), Ints, Labels) of
        _ -> halt(0)
    catch Class:Reason:Stack ->
        io:format(standard_error, "bench_core ~s failed: ~p:~p~n~p~n",
                  [Workload, Class, Reason, Stack]),
        halt(1)
    end.

is_int(S) -> lists:all(fun(C) -> C >= $0 andalso C =< $9 end, S) andalso S =/= [].

result(Key, Value, Unit) ->
    io:format("RESULT\t~s\t~s\t~s~n", [Key, fmt(Value), Unit]).

fmt(V) when is_integer(V) -> integer_to_list(V);
fmt(V) -> float_to_list(float(V), [{decimals, 3}, compact]).

now_us() -> erlang:monotonic_time(microsecond).

median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).

echo() ->
    receive From -> From ! pong, echo() end.

%% Microseconds, to the nanosecond clock's precision (a round trip is a few).
pause_once(Self, Echo) ->
    timer:sleep(2),
    T0 = erlang:monotonic_time(nanosecond),
    Echo ! Self,
    receive pong -> ok end,
    Rt = (erlang:monotonic_time(nanosecond) - T0) / 1000,
    timer:sleep(2),
    T1 = erlang:monotonic_time(nanosecond),
    spawn(fun() -> Self ! hi end),
    receive hi -> ok end,
    {Rt, (erlang:monotonic_time(nanosecond) - T1) / 1000}.

%% ---------------------------------------------------------------- spawn

run(spawn, [N], [Label]) ->
    Parent = self(),
    garbage_collect(),
    Rss0 = rss_kb(),
    Mem0 = erlang:memory(total),
    T0 = now_us(),
    Pids = [spawn(fun() -> idle(Parent) end) || _ <- lists:seq(1, N)],
    wait_ready(N),
    T1 = now_us(),
    Rss1 = rss_kb(),
    Mem1 = erlang:memory(total),
    result("spawn_" ++ Label ++ "_us", (T1 - T0) / N, "us"),
    result("idle_proc_" ++ Label ++ "_kb", (Rss1 - Rss0) / N, "KB"),
    result("idle_proc_" ++ Label ++ "_erlmem_kb", (Mem1 - Mem0) / 1024 / N, "KB"),
    kill_all(Pids);

%% ----------------------------------------------------------- spawn_exit

run(spawn_exit, [N], _) ->
    Parent = self(),
    T0 = now_us(),
    spawn_exit(Parent, N, 0, 0),
    result("spawn_exit_us", (now_us() - T0) / N, "us");

%% ------------------------------------------------------------- pingpong

run(pingpong, [N], _) ->
    Self = self(),
    Pong = spawn(fun() -> pong(Self) end),
    pingpong_rounds(Pong, 1000),            % warm up
    T0 = now_us(),
    pingpong_rounds(Pong, N),
    T1 = now_us(),
    result("pingpong_rt_us", (T1 - T0) / N, "us"),
    exit(Pong, kill);

%% ---------------------------------------------------------------- pause

run(pause, [N], _) ->
    Self = self(),
    Echo = spawn(fun() -> echo() end),
    Pairs = [pause_once(Self, Echo) || _ <- lists:seq(1, N)],
    {Rts, Spawns} = lists:unzip(Pairs),
    result("pause_rt_us", median(Rts), "us"),
    result("pause_spawn_us", median(Spawns), "us"),
    exit(Echo, kill);

%% ----------------------------------------------------------------- send

run(send, [N], _) ->
    Self = self(),
    Consumer = spawn(fun() -> consume(Self, N, 0) end),
    T0 = now_us(),
    produce(Consumer, N),
    TSent = now_us(),
    receive {done, N} -> ok end,
    T1 = now_us(),
    result("send_msgs_per_s", N / ((T1 - T0) / 1.0e6), "msg/s"),
    result("send_producer_msgs_per_s", N / ((TSent - T0) / 1.0e6), "msg/s");

%% ----------------------------------------------------------------- ring

run(ring, [Size, Hops], _) ->
    Self = self(),
    Pids = [spawn(fun() -> ring_init(Self) end) || _ <- lists:seq(1, Size)],
    Nexts = tl(Pids) ++ [hd(Pids)],
    lists:foreach(fun({P, Next}) -> P ! {next, Next} end, lists:zip(Pids, Nexts)),
    hd(Pids) ! 1000,                        % warm up: 1000 hops
    receive ring_done -> ok end,
    T0 = now_us(),
    hd(Pids) ! Hops,
    receive ring_done -> ok end,
    T1 = now_us(),
    result("ring_hops_per_s", Hops / ((T1 - T0) / 1.0e6), "hop/s"),
    kill_all(Pids);

%% --------------------------------------------------------------- timers

run(timers, [N, Span], _) ->
    Self = self(),
    Receiver = spawn(fun() -> timer_receiver(Self, N) end),
    rand:seed(exsss, {1, 2, 3}),
    T0 = now_us(),
    arm(Receiver, N, Span),
    T1 = now_us(),
    Receiver ! {armed, T1},
    receive {lateness, Late, After} -> ok end,
    Sorted = lists:sort(Late),
    SortedAfter = lists:sort(After),
    result("timer_late_p50_ms", pct(Sorted, N, 50) / 1000, "ms"),
    result("timer_late_p99_ms", pct(Sorted, N, 99) / 1000, "ms"),
    result("timer_late_max_ms", lists:last(Sorted) / 1000, "ms"),
    result("timer_late_min_ms", hd(Sorted) / 1000, "ms"),
    result("timer_late_p99_after_arm_ms",
           case SortedAfter of [] -> 0; _ -> pct(SortedAfter, length(SortedAfter), 99) / 1000 end,
           "ms"),
    result("timer_arm_us", (T1 - T0) / N, "us"),
    exit(Receiver, kill),
    Waits = lists:sort([receive_late(I rem 5 + 1) || I <- lists:seq(1, 300)]),
    result("recv_timeout_late_p50_ms", pct(Waits, 300, 50) / 1000, "ms"),
    result("recv_timeout_late_p99_ms", pct(Waits, 300, 99) / 1000, "ms"),
    Burst = N div 40 * 10,
    Rs = [spawn(fun() -> burst_receiver(Self, Burst div 10, []) end) || _ <- lists:seq(1, 10)],
    burst_arm(list_to_tuple(Rs), Burst),
    BurstLate = lists:sort(lists:append([receive {burst, L} -> L end || _ <- Rs])),
    result("timer_burst_late_p50_ms", pct(BurstLate, Burst, 50) / 1000, "ms"),
    result("timer_burst_late_p99_ms", pct(BurstLate, Burst, 99) / 1000, "ms");

%% ----------------------------------------------------------------- idle

run(idle, [N, Ms], _) ->
    Parent = self(),
    Pids = [spawn(fun() -> idle(Parent) end) || _ <- lists:seq(1, N)],
    wait_ready(N),
    timer:sleep(200),                       % let the schedulers settle
    {U0, S0} = cpu_ticks(),
    T0 = now_us(),
    timer:sleep(Ms),
    {U1, S1} = cpu_ticks(),
    T1 = now_us(),
    Tick = clock_ticks(),
    CpuUs = ((U1 - U0) + (S1 - S0)) * 1.0e6 / Tick,
    result("idle_cpu_pct", 100 * CpuUs / (T1 - T0), "%"),
    kill_all(Pids);

%% ------------------------------------------------------------- fairness
%% As bench/fairness.lua: the host idle, then with spinners (a tight
%% recursive loop, preempted by reductions, killed after the measurement).

run(fairness_pp, [Ms, NSpin], _) ->
    Self = self(),
    Pong = spawn(fun() -> pong(Self) end),
    pp_for(Pong, min(Ms, 100)),             % warm up
    {Idle, H} = pp_for(Pong, Ms),
    result("fair_pp_idle_per_s", Idle, "rt/s"),
    result("fair_pp_idle_p99_ms", hist_pct(H, 99), "ms"),
    result("fair_pp_idle_max_ms", hist_max(H) / 1000, "ms"),
    Spinners = start_spinners(NSpin),
    {Rate, HS} = pp_for(Pong, Ms),
    result("fair_pp_spin_per_s", Rate, "rt/s"),
    result("fair_pp_spin_p99_ms", hist_pct(HS, 99), "ms"),
    result("fair_pp_spin_of_idle_pct", 100 * Rate / Idle, "%"),
    result("fair_pp_spin_max_ms", hist_max(HS) / 1000, "ms"),
    T0 = now_us(),
    stop_spinners(Spinners),
    result("fair_pp_spin_kill_ms", (now_us() - T0) / 1000, "ms"),
    exit(Pong, kill);

run(fairness_timers, [N, Span], _) ->
    rand:seed(exsss, {1, 2, 3}),
    timers_once(min(N, 1000), 100),         % warm up
    {Idle, Max} = timers_once(N, Span),
    result("fair_timer_idle_p99_ms", Idle, "ms"),
    result("fair_timer_idle_max_ms", Max, "ms"),
    Spinners = start_spinners(1),
    {P99, SMax} = timers_once(N, Span),
    result("fair_timer_spin_p99_ms", P99, "ms"),
    result("fair_timer_spin_ratio", P99 / Idle, "x"),
    result("fair_timer_spin_max_ms", SMax, "ms"),
    stop_spinners(Spinners).

%% ---------------------------------------------------------- process bodies

idle(Parent) ->
    Parent ! ready,
    receive stop -> ok end.

wait_ready(0) -> ok;
wait_ready(N) -> receive ready -> wait_ready(N - 1) end.

kill_all(Pids) -> lists:foreach(fun(P) -> exit(P, kill) end, Pids).

pong(Ping) ->
    receive X -> Ping ! X, pong(Ping) end.

pingpong_rounds(_, 0) -> ok;
pingpong_rounds(Pong, N) ->
    Pong ! N,
    receive N -> pingpong_rounds(Pong, N - 1) end.

produce(_, 0) -> ok;
produce(C, N) -> C ! N, produce(C, N - 1).

consume(Parent, N, N) -> Parent ! {done, N};
consume(Parent, N, Got) -> receive _ -> consume(Parent, N, Got + 1) end.

ring_init(Main) ->
    receive {next, Next} -> ring_loop(Main, Next) end.

ring_loop(Main, Next) ->
    receive
        0 -> Main ! ring_done, ring_loop(Main, Next);
        K -> Next ! K - 1, ring_loop(Main, Next)
    end.

%% The main process arms N timers at a receiver, each message carrying its
%% due time, then sends {armed, T}; the receiver, idle otherwise, sends back
%% receive time - due time in µs for every timer, and separately for those
%% due after arming ended.
%% How late a receive of D ms that nothing ends early returns, in us.
receive_late(D) ->
    W0 = now_us(),
    receive never_sent -> ok after D -> ok end,
    now_us() - W0 - D * 1000.

%% A burst (bench/timers.lua): K timers of 0..50 ms, round robin to Rs.
burst_arm(_, 0) -> ok;
burst_arm(Rs, K) ->
    Delay = rand:uniform(51) - 1,
    erlang:send_after(Delay, element(K rem tuple_size(Rs) + 1, Rs), {due, now_us() + Delay * 1000}),
    burst_arm(Rs, K - 1).

burst_receiver(Parent, 0, Acc) -> Parent ! {burst, Acc};
burst_receiver(Parent, K, Acc) ->
    receive {due, Due} -> burst_receiver(Parent, K - 1, [now_us() - Due | Acc]) end.

timer_receiver(Parent, N) ->
    {Late, Armed} = collect(N, [], undefined),
    After = [L || {L, Due} <- Late, Due >= Armed],
    Parent ! {lateness, [L || {L, _} <- Late], After}.

arm(_, 0, _) -> ok;
arm(Dest, K, Span) ->
    Delay = rand:uniform(Span + 1) - 1,                % 0..Span ms
    Due = now_us() + Delay * 1000,
    erlang:send_after(Delay, Dest, {due, Due}),
    arm(Dest, K - 1, Span).

%% Collects {Lateness, Due} for N timers and the time arming ended.
collect(0, Acc, Armed) when Armed =/= undefined -> {Acc, Armed};
collect(K, Acc, Armed) ->
    receive
        {armed, T} -> collect(K, Acc, T);
        {due, Due} -> collect(K - 1, [{now_us() - Due, Due} | Acc], Armed)
    end.

%% Fairness: spinners, round trips into a histogram, timers.
start_spinners(N) ->
    Self = self(),
    Pids = [spawn_monitor(fun() -> Self ! {spinning, self()}, spin(0) end)
            || _ <- lists:seq(1, N)],
    [receive {spinning, P} -> ok end || {P, _} <- Pids],
    Pids.

spin(I) -> spin(I + 1).

stop_spinners(Pids) ->
    [exit(P, kill) || {P, _} <- Pids],
    [receive {'DOWN', Ref, process, _, killed} -> ok end || {_, Ref} <- Pids],
    ok.

%% Round trips for Ms: {rate per s, histogram}. The histogram {H, N, Max}
%% counts latencies in 1 us buckets up to ?HMAX us (the last takes the rest).
-define(HMAX, 200000).

pp_for(Pong, Ms) ->
    H = counters:new(?HMAX + 1, []),
    T0 = now_us(),
    {N, T, Max} = pp_loop(Pong, H, T0, T0 + Ms * 1000, 0, 0),
    {N / ((T - T0) / 1.0e6), {H, N, Max}}.

pp_loop(_, _, T, Stop, N, Max) when T >= Stop -> {N, T, Max};
pp_loop(Pong, H, T, Stop, N, Max) ->
    Pong ! N,
    receive N -> ok end,
    T1 = now_us(),
    Us = T1 - T,
    counters:add(H, min(Us, ?HMAX) + 1, 1),
    pp_loop(Pong, H, T1, Stop, N + 1, max(Max, Us)).

hist_max({_, _, Max}) -> Max.

%% The P-th percentile (nearest rank) in ms: a bucket's upper edge.
hist_pct({H, N, Max}, P) -> hist_walk(H, Max, 0, 0, max(1, ceil(P * N / 100))).

hist_walk(_, Max, ?HMAX, _, _) -> Max / 1000;
hist_walk(H, Max, I, Seen, Rank) ->
    S = Seen + counters:get(H, I + 1),
    case S >= Rank of
        true -> (I + 1) / 1000;
        false -> hist_walk(H, Max, I + 1, S, Rank)
    end.

%% N timers over 0..Span ms at an idle receiver: {p99, max} lateness in ms.
timers_once(N, Span) ->
    Self = self(),
    R = spawn(fun() -> fair_timer_receiver(Self, N, []) end),
    arm(R, N, Span),
    receive {fair_lateness, Late} -> ok end,
    Sorted = lists:sort(Late),
    {pct(Sorted, N, 99) / 1000, lists:last(Sorted) / 1000}.

fair_timer_receiver(Parent, 0, Acc) -> Parent ! {fair_lateness, Acc};
fair_timer_receiver(Parent, K, Acc) ->
    receive {due, Due} -> fair_timer_receiver(Parent, K - 1, [now_us() - Due | Acc]) end.

pct(Sorted, N, P) ->
    I = max(1, min(N, ceil(P * N / 100))),
    lists:nth(I, Sorted).

%% ------------------------------------------------------------------ /proc

rss_kb() ->
    {ok, Bin} = file:read_file("/proc/" ++ os:getpid() ++ "/status"),
    [Line] = [L || L <- binary:split(Bin, <<"\n">>, [global]),
                   binary:match(L, <<"VmRSS:">>) =/= nomatch],
    [_, Kb | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kb).

%% utime and stime of the whole VM (all threads), in clock ticks.
cpu_ticks() ->
    {ok, Bin} = file:read_file("/proc/" ++ os:getpid() ++ "/stat"),
    %% the command name may hold spaces; fields after ")" start at state (3)
    [_, Rest] = binary:split(Bin, <<") ">>),
    Fields = binary:split(Rest, <<" ">>, [global]),
    Utime = binary_to_integer(lists:nth(12, Fields)),   % field 14
    Stime = binary_to_integer(lists:nth(13, Fields)),   % field 15
    {Utime, Stime}.

clock_ticks() ->
    case string:to_integer(os:cmd("getconf CLK_TCK")) of
        {T, _} when is_integer(T), T > 0 -> T;
        _ -> 100
    end.

%% Keep at most 1000 alive: spawn while fewer are out, then take one's word.
spawn_exit(_Parent, N, _Spawned, N) -> ok;
spawn_exit(Parent, N, Spawned, Told) when Spawned < N, Spawned - Told < 1000 ->
    spawn(fun() -> Parent ! told end),
    spawn_exit(Parent, N, Spawned + 1, Told);
spawn_exit(Parent, N, Spawned, Told) ->
    receive told -> spawn_exit(Parent, N, Spawned, Told + 1)
    after 30000 -> error(a_process_did_not_tell)
    end.
