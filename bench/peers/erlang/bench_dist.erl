%% bench_dist — gen_server calls and casts between nodes (bench/dist.sh).
%%
%% The server is a counter registered as counter (every call but get and
%% every cast adds one; get replies the count), as bench/dist_server.lua is
%% on a moonbeam node. The client calls and casts it on another node over
%% one connection and prints RESULT<TAB>key<TAB>value<TAB>unit lines:
%%
%%   erl -sname s -noshell -pa EBIN -run bench_dist main server
%%   erl -sname c -noshell -pa EBIN -run bench_dist main client s@host N
%%
%% dist_call_rt_us: µs per call, one caller, after 1000 warm-up calls;
%% dist_cast_per_s: N casts, then one call (the server has handled them
%% all), casts/s until it returns. The client halts when done.
-module(bench_dist).
-behaviour(gen_server).
-export([main/1]).
-export([init/1, handle_call/3, handle_cast/2]).

-define(WARM, 1000).

init(Start) -> {ok, Start}.

handle_call(get, _From, N) -> {reply, N, N};
handle_call(_, _From, N) -> {reply, N + 1, N + 1}.

handle_cast(_, N) -> {noreply, N + 1}.

main(["server"]) ->
    {ok, _} = gen_server:start({local, counter}, ?MODULE, 0, []);
main(["client", Node, NStr]) ->
    S = {counter, list_to_atom(Node)},
    N = list_to_integer(NStr),
    reach(S, 500),
    Base = gen_server:call(S, get),
    calls(S, ?WARM),
    T0 = erlang:monotonic_time(microsecond),
    calls(S, N),
    T1 = erlang:monotonic_time(microsecond),
    result("dist_call_rt_us", (T1 - T0) / N, "us"),
    casts(S, N),
    Got = gen_server:call(S, get),
    T2 = erlang:monotonic_time(microsecond),
    result("dist_cast_per_s", N / ((T2 - T1) / 1.0e6), "cast/s"),
    case Got - Base of
        D when D =:= ?WARM + 2 * N -> halt(0);
        D -> io:format(standard_error, "bench_dist: the server counted ~p, expected ~p~n", [D, ?WARM + 2 * N]),
             halt(1)
    end.

%% Until the server answers (its node starts beside us): 20 ms apart.
reach(_, 0) -> io:format(standard_error, "bench_dist: the server never answered~n", []), halt(1);
reach(S, Tries) ->
    case catch gen_server:call(S, get, 1000) of
        N when is_integer(N) -> ok;
        _ -> timer:sleep(20), reach(S, Tries - 1)
    end.

calls(_, 0) -> ok;
calls(S, K) -> gen_server:call(S, inc), calls(S, K - 1).

casts(_, 0) -> ok;
casts(S, K) -> gen_server:cast(S, inc), casts(S, K - 1).

result(Key, V, Unit) when is_float(V) -> io:format("RESULT\t~s\t~.3f\t~s~n", [Key, V, Unit]);
result(Key, V, Unit) -> io:format("RESULT\t~s\t~p\t~s~n", [Key, V, Unit]).
