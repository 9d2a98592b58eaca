%% bench_gen — moonbeam's gen_server workloads, written for Erlang/OTP.
%%
%% Each workload mirrors a bench/gen_*.lua script and prints the same
%% RESULT<TAB>key<TAB>value<TAB>unit lines (bench/table.lua joins the two).
%% This module is also the server: a counter whose callbacks match
%% bench/lib/gen_counter.lua (every call but get and every cast adds one;
%% get replies the count). bench/run.sh runs every workload in a fresh VM:
%%
%%   erlc -o /tmp/x bench/peers/erlang/bench_gen.erl
%%   erl -noshell -pa /tmp/x -run bench_gen main call 400000 64 64c
%%
%% Workloads and arguments:
%%   call   N 1 rt       N calls from the main process; gen_call_rt_us
%%   call   N C Label    C clients, N calls in all; gen_call_<Label>_per_s
%%   cast   N P Label    P producers, N casts in all, each ending with a call;
%%                       gen_cast_<Label>_per_s
%%   queued N Q Label    N calls with an empty mailbox and N with Q unrelated
%%                       messages queued, in 4 alternating rounds;
%%                       gen_call_empty_us, gen_call_<Label>_queued_us, _ratio
-module(bench_gen).
-behaviour(gen_server).
-export([main/1]).
-export([init/1, handle_call/3, handle_cast/2]).

-define(WARM, 1000).
-define(ROUNDS, 4).

%% ------------------------------------------------------------ the server

init(Start) -> {ok, Start}.

handle_call(get, _From, N) -> {reply, N, N};
handle_call(_Inc, _From, N) -> {reply, N + 1, N + 1}.

handle_cast(_Msg, N) -> {noreply, N + 1}.

%% -------------------------------------------------------------- driver

main([Workload | Args]) ->
    Ints = [list_to_integer(A) || A <- Args, is_int(A)],
    Labels = [A || A <- Args, not is_int(A)],
    try run(list_to_atom(Workload), Ints, Labels) of
        _ -> halt(0)
    catch Class:Reason:Stack ->
        io:format(standard_error, "bench_gen ~s failed: ~p:~p~n~p~n",
                  [Workload, Class, Reason, Stack]),
        halt(1)
    end.

is_int(S) -> lists:all(fun(C) -> C >= $0 andalso C =< $9 end, S) andalso S =/= [].

result(Key, Value, Unit) ->
    io:format("RESULT\t~s\t~s\t~s~n", [Key, fmt(Value), Unit]).

fmt(V) when is_integer(V) -> integer_to_list(V);
fmt(V) -> float_to_list(float(V), [{decimals, 3}, compact]).

now_us() -> erlang:monotonic_time(microsecond).

check(Server, Expected) ->
    case gen_server:call(Server, get) of
        Expected -> ok;
        Got -> error({count, Got, expected, Expected})
    end.

%% Splits N into K shares (the first N rem K one larger).
share(N, K, I) -> N div K + (case I =< N rem K of true -> 1; false -> 0 end).

%% ---------------------------------------------------------------- call

run(start, [N], _) ->
    Warm = [element(2, gen_server:start(?MODULE, 0, [])) || _ <- lists:seq(1, 100)],
    erlang:garbage_collect(),
    M0 = erlang:memory(total),
    T0 = now_us(),
    Pids = [element(2, gen_server:start(?MODULE, 0, [])) || _ <- lists:seq(1, N)],
    T1 = now_us(),
    M1 = erlang:memory(total),
    result("gen_start_us", (T1 - T0) / N, "us"),
    result("idle_gen_server_kb", (M1 - M0) / N / 1024, "KB"),
    check(lists:last(Pids), 0),
    [gen_server:stop(P) || P <- Warm ++ Pids],
    ok;

run(call, [N, C], Labels) when C =< 1 ->
    _ = Labels,
    {ok, S} = gen_server:start_link(?MODULE, 0, []),
    calls(S, ?WARM),                        % warm up
    T0 = now_us(),
    calls(S, N),
    T1 = now_us(),
    result("gen_call_rt_us", (T1 - T0) / N, "us"),
    check(S, ?WARM + N),
    gen_server:stop(S);

run(call, [N, C], [Label]) ->
    {ok, S} = gen_server:start_link(?MODULE, 0, []),
    Self = self(),
    Pids = [spawn_link(fun() -> client(Self, S, share(N, C, I)) end)
            || I <- lists:seq(1, C)],
    wait_for(ready, C),
    T0 = now_us(),
    [P ! go || P <- Pids],
    wait_for(done, C),
    T1 = now_us(),
    result("gen_call_" ++ Label ++ "_per_s", N / ((T1 - T0) / 1.0e6), "call/s"),
    check(S, ?WARM * C + N),
    gen_server:stop(S);

%% ---------------------------------------------------------------- cast

run(cast, [N, P], [Label]) ->
    {ok, S} = gen_server:start_link(?MODULE, 0, []),
    Self = self(),
    Pids = [spawn_link(fun() -> producer(Self, S, share(N, P, I)) end)
            || I <- lists:seq(1, P)],
    wait_for(ready, P),
    T0 = now_us(),
    [Pid ! go || Pid <- Pids],
    wait_for(done, P),
    T1 = now_us(),
    result("gen_cast_" ++ Label ++ "_per_s", N / ((T1 - T0) / 1.0e6), "cast/s"),
    check(S, ?WARM * P + N),
    gen_server:stop(S);

%% -------------------------------------------------------------- queued

run(queued, [N, Q], [Label]) ->
    {ok, S} = gen_server:start_link(?MODULE, 0, []),
    calls(S, ?WARM),
    {Empty, Queued} = rounds(S, N, Q, 1, 0, 0),
    result("gen_call_empty_us", Empty / N, "us"),
    result("gen_call_" ++ Label ++ "_queued_us", Queued / N, "us"),
    result("gen_call_" ++ Label ++ "_queued_ratio", Queued / Empty, "x"),
    check(S, ?WARM + 2 * N),
    gen_server:stop(S).

rounds(_, _, _, R, Empty, Queued) when R > ?ROUNDS -> {Empty, Queued};
rounds(S, N, Q, R, Empty, Queued) ->
    K = share(N, ?ROUNDS, R),
    E = timed_calls(S, K),
    [self() ! {noise, I} || I <- lists:seq(1, Q)],
    D = timed_calls(S, K),
    {message_queue_len, Q} = process_info(self(), message_queue_len),
    drain(Q),
    rounds(S, N, Q, R + 1, Empty + E, Queued + D).

timed_calls(S, K) ->
    T0 = now_us(),
    calls(S, K),
    now_us() - T0.

drain(0) -> ok;
drain(Q) -> receive {noise, _} -> drain(Q - 1) after 0 -> error(drain) end.

%% ---------------------------------------------------------- process bodies

calls(_, 0) -> ok;
calls(S, K) -> gen_server:call(S, inc), calls(S, K - 1).

casts(_, 0) -> ok;
casts(S, K) -> gen_server:cast(S, inc), casts(S, K - 1).

client(Parent, S, N) ->
    calls(S, ?WARM),
    Parent ! ready,
    receive go -> ok end,
    calls(S, N),
    Parent ! done.

producer(Parent, S, N) ->
    casts(S, ?WARM),
    gen_server:call(S, get),
    Parent ! ready,
    receive go -> ok end,
    casts(S, N),
    gen_server:call(S, get),                % the server has all our casts
    Parent ! done.

wait_for(_, 0) -> ok;
wait_for(What, K) -> receive What -> wait_for(What, K - 1) after 60000 -> error({no, What}) end.
