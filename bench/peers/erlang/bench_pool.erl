%% bench_pool — bench/pool.lua written for Erlang/OTP: C clients make N
%% calls in all, each spin(Rounds) (Rounds turns of the same MINSTD
%% random-number generator), first to one gen_server that does the work
%% itself, then to a router registered under one name that casts each call
%% to one of W workers in turn; the worker answers with gen_server:reply.
%% Prints the same RESULT lines (pool_one_per_s, pool_<W>w_per_s,
%% pool_speedup). This module is all three servers (single, router, worker).
%%
%%   erlc -o /tmp/x bench/peers/erlang/bench_pool.erl
%%   erl -noshell -pa /tmp/x -run bench_pool main 8000 8 4 20000
-module(bench_pool).
-behaviour(gen_server).
-export([main/1]).
-export([init/1, handle_call/3, handle_cast/2]).

%% ------------------------------------------------------------ the servers

init(single) -> {ok, single};
init({router, W}) ->
    Ws = [begin {ok, P} = gen_server:start_link(?MODULE, worker, []), P end
          || _ <- lists:seq(1, W)],
    {ok, {router, list_to_tuple(Ws), 0}};
init(worker) -> {ok, worker}.

handle_call({job, N}, _From, single) -> {reply, spin(N), single};
handle_call({job, N}, From, {router, Ws, I}) ->
    Next = I rem tuple_size(Ws) + 1,
    gen_server:cast(element(Next, Ws), {job, From, N}),
    {noreply, {router, Ws, Next}}.

handle_cast({job, From, N}, worker) ->
    gen_server:reply(From, spin(N)),
    {noreply, worker}.

spin(N) -> spin(N, 1).
spin(0, X) -> X;
spin(N, X) -> spin(N - 1, X * 48271 rem 2147483647).

%% -------------------------------------------------------------- driver

main(Args) ->
    [N, C, W, Rounds] = [list_to_integer(A) || A <- Args],
    try
        {ok, _} = gen_server:start({local, bench_one}, ?MODULE, single, []),
        One = run(bench_one, N, C, W, Rounds),
        result("pool_one_per_s", One, "call/s"),
        gen_server:stop(bench_one),
        {ok, _} = gen_server:start({local, bench_pool}, ?MODULE, {router, W}, []),
        Many = run(bench_pool, N, C, W, Rounds),
        result("pool_" ++ integer_to_list(W) ++ "w_per_s", Many, "call/s"),
        gen_server:stop(bench_pool),
        result("pool_speedup", Many / One, "x"),
        halt(0)
    catch Class:Reason:Stack ->
        io:format(standard_error, "bench_pool failed: ~p:~p~n~p~n", [Class, Reason, Stack]),
        halt(1)
    end.

result(Key, Value, Unit) ->
    io:format("RESULT\t~s\t~s\t~s~n", [Key, float_to_list(float(Value), [{decimals, 3}, compact]), Unit]).

now_us() -> erlang:monotonic_time(microsecond).

share(N, K, I) -> N div K + (case I =< N rem K of true -> 1; false -> 0 end).

%% C clients make N calls of spin(Rounds) to Name, released together; calls/s.
run(Name, N, C, W, Rounds) ->
    Expected = spin(Rounds),
    [Expected = gen_server:call(Name, {job, Rounds}, 60000) || _ <- lists:seq(1, 4 * W)],
    Me = self(),
    Pids = [spawn_link(fun() -> client(Me, Name, share(N, C, I), Rounds, Expected) end)
            || I <- lists:seq(1, C)],
    [receive ready -> ok after 60000 -> error(not_ready) end || _ <- Pids],
    T0 = now_us(),
    [P ! go || P <- Pids],
    [receive done -> ok after 120000 -> error(not_done) end || _ <- Pids],
    N / ((now_us() - T0) / 1.0e6).

client(Parent, Name, K, Rounds, Expected) ->
    [gen_server:call(Name, {job, 100}, 60000) || _ <- lists:seq(1, 10)],
    Parent ! ready,
    receive go -> ok end,
    [Expected = gen_server:call(Name, {job, Rounds}, 60000) || _ <- lists:seq(1, K)],
    Parent ! done.
