%% bench_ets — bench/shared_table.lua's workloads on ETS, printing the same
%% RESULT<TAB>key<TAB>value<TAB>unit lines.
%%
%%   erlc -o /tmp/x bench/peers/erlang/bench_ets.erl
%%   erl -noshell -pa /tmp/x -run bench_ets main 1000000
%%
%% A public set of 1000 binary keys (<<"key:1">>..), each a 32-byte binary,
%% with read_concurrency and write_concurrency on.
-module(bench_ets).
-behaviour(gen_server).
-export([main/1, init/1, handle_call/3, handle_cast/2]).

main([NStr]) ->
    try run(list_to_integer(NStr)) of
        _ -> halt(0)
    catch Class:Reason:Stack ->
        io:format(standard_error, "bench_ets failed: ~p:~p~n~p~n", [Class, Reason, Stack]),
        halt(1)
    end.

result(Key, Value, Unit) ->
    io:format("RESULT\t~s\t~s\t~s~n", [Key, float_to_list(float(Value), [{decimals, 3}, compact]), Unit]).

now_us() -> erlang:monotonic_time(microsecond).

init(Config) -> {ok, Config}.
handle_call({get, K}, _From, Config) -> {reply, maps:get(K, Config), Config}.
handle_cast(_, S) -> {noreply, S}.

keys() -> list_to_tuple([<<"key:", (integer_to_binary(I))/binary>> || I <- lists:seq(1, 1000)]).

%% Body(N) in Workers processes at once; ops/s in all, from the release
%% until the last is done.
in_parallel(Workers, Total, Body) ->
    Self = self(),
    N = Total div Workers,
    Pids = [spawn_link(fun() ->
                           Body(1000),
                           Self ! {ready, self()},
                           receive go -> ok end,
                           Body(N),
                           Self ! {done, self()}
                       end) || _ <- lists:seq(1, Workers)],
    [receive {ready, P} -> ok end || P <- Pids],
    T0 = now_us(),
    [P ! go || P <- Pids],
    [receive {done, P} -> ok end || P <- Pids],
    Workers * N / ((now_us() - T0) / 1.0e6).

lookups(N) ->
    Keys = keys(),
    lists:foreach(fun(I) ->
                          [_] = ets:lookup(bench_set, element(I rem 1000 + 1, Keys))
                  end, lists:seq(1, N)).

inserts(N) ->
    Keys = keys(),
    V = binary:copy(<<"w">>, 32),
    lists:foreach(fun(I) -> ets:insert(bench_set, {element(I rem 1000 + 1, Keys), V}) end,
                  lists:seq(1, N)).

counter(N) ->
    lists:foreach(fun(_) -> ets:update_counter(bench_set, counter, 1) end, lists:seq(1, N)).

one_key_inserts(N) ->
    T = ets:new(bench_dbag, [duplicate_bag, public]),
    lists:foreach(fun(I) -> ets:insert(T, {topic, I}) end, lists:seq(1, N)),
    ets:delete(T).

config_by_call(Server) ->
    fun(N) -> lists:foreach(fun(_) -> 5000 = gen_server:call(Server, {get, timeout}) end,
                            lists:seq(1, N)) end.

config_by_table(N) ->
    lists:foreach(fun(_) -> [{_, 5000}] = ets:lookup(bench_cfg, timeout) end, lists:seq(1, N)).

run(N) ->
    ets:new(bench_set, [set, public, named_table, {read_concurrency, true}, {write_concurrency, true}]),
    V = binary:copy(<<"v">>, 32),
    Keys = keys(),
    [ets:insert(bench_set, {element(I, Keys), V}) || I <- lists:seq(1, 1000)],
    ets:insert(bench_set, {counter, 0}),
    result("tab_lookup_1p_per_s", in_parallel(1, N, fun lookups/1), "op/s"),
    result("tab_lookup_2p_per_s", in_parallel(2, N, fun lookups/1), "op/s"),
    result("tab_insert_per_s", in_parallel(1, N, fun inserts/1), "op/s"),
    result("tab_counter_2p_per_s", in_parallel(2, N, fun counter/1), "op/s"),
    result("tab_dbag_1key_per_s", in_parallel(1, N div 10, fun one_key_inserts/1), "op/s"),
    ets:new(bench_cfg, [set, protected, named_table, {read_concurrency, true}]),
    ets:insert(bench_cfg, {timeout, 5000}),
    {ok, Server} = gen_server:start_link(?MODULE, #{timeout => 5000}, []),
    ByCall = in_parallel(8, N div 10, config_by_call(Server)),
    ByTable = in_parallel(8, N div 10, fun config_by_table/1),
    result("cfg_call_8r_per_s", ByCall, "op/s"),
    result("cfg_table_8r_per_s", ByTable, "op/s"),
    result("cfg_table_vs_call", ByTable / ByCall, "x").
