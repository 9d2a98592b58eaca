%% resp_server — examples/resp_server.lua written with gen_tcp, for the
%% RESP rows of bench/run.sh: the same commands (PING, ECHO, SET, GET, DEL,
%% EXISTS, INCR, MGET, MSET; EXPIRE and TTL left out: redis-benchmark's
%% set/get do not use them), a public ETS table, a process per connection
%% under a simple_one_for_one supervisor, passive recv and one send per
%% batch of whole requests, as the Lua one does.
%%
%%   erlc -o /tmp/x bench/peers/erlang/resp_server.erl
%%   erl -noshell -pa /tmp/x -run resp_server main 6390
-module(resp_server).
-behaviour(supervisor).
-export([main/1, init/1, start_conn/1, conn/2]).

main([PortStr]) ->
    Tab = ets:new(resp, [public, set, {read_concurrency, true}, {write_concurrency, true}]),
    {ok, Sup} = supervisor:start_link(?MODULE, Tab),
    {ok, L} = gen_tcp:listen(list_to_integer(PortStr),
                             [binary, {ip, {127, 0, 0, 1}}, {active, false}, {reuseaddr, true},
                              {backlog, 1024}, {nodelay, true}]),
    io:format("listening~n"),
    accept(L, Sup).

init(Tab) ->
    {ok, {#{strategy => simple_one_for_one},
          [#{id => conn, start => {?MODULE, start_conn, [Tab]}, restart => temporary,
             shutdown => brutal_kill}]}}.

accept(L, Sup) ->
    {ok, S} = gen_tcp:accept(L),
    {ok, Pid} = supervisor:start_child(Sup, []),
    ok = gen_tcp:controlling_process(S, Pid),
    Pid ! {socket, S},
    accept(L, Sup).

start_conn(Tab) -> {ok, spawn_link(?MODULE, conn, [Tab, self()])}.

conn(Tab, _Sup) ->
    receive {socket, S} -> loop(S, Tab, <<>>) end.

loop(S, Tab, Buf0) ->
    case gen_tcp:recv(S, 0) of
        {ok, Data} ->
            {Out, Rest} = requests(<<Buf0/binary, Data/binary>>, Tab, []),
            case Out of
                [] -> loop(S, Tab, Rest);
                _ -> case gen_tcp:send(S, lists:reverse(Out)) of
                         ok -> loop(S, Tab, Rest);
                         _ -> ok
                     end
            end;
        _ -> ok
    end.

requests(Buf, Tab, Out) ->
    case parse(Buf) of
        more -> {Out, Buf};
        error -> {[<<"-ERR Protocol error\r\n">> | Out], <<>>};
        {Args, Rest} -> requests(Rest, Tab, [execute(Args, Tab) | Out])
    end.

parse(<<"*", Rest/binary>>) ->
    case line(Rest) of
        more -> more;
        {N, Rest1} -> bulks(binary_to_integer(N), Rest1, [])
    end;
parse(<<>>) -> more;
parse(_) -> error.

bulks(0, Rest, Acc) -> {lists:reverse(Acc), Rest};
bulks(N, <<"$", Rest/binary>>, Acc) ->
    case line(Rest) of
        more -> more;
        {LenB, Rest1} ->
            Len = binary_to_integer(LenB),
            case Rest1 of
                <<Arg:Len/binary, "\r\n", Rest2/binary>> -> bulks(N - 1, Rest2, [Arg | Acc]);
                _ when byte_size(Rest1) < Len + 2 -> more;
                _ -> error
            end
    end;
bulks(_, <<>>, _) -> more;
bulks(_, _, _) -> error.

line(Bin) ->
    case binary:split(Bin, <<"\r\n">>) of
        [Line, Rest] -> {Line, Rest};
        [_] -> more
    end.

bulk(undefined) -> <<"$-1\r\n">>;
bulk(V) -> [$$, integer_to_binary(byte_size(V)), <<"\r\n">>, V, <<"\r\n">>].

int(N) -> [$:, integer_to_binary(N), <<"\r\n">>].

get(Tab, K) ->
    case ets:lookup(Tab, K) of
        [{_, V}] -> V;
        [] -> undefined
    end.

execute([Cmd | Args], Tab) -> command(string:uppercase(Cmd), Args, Tab).

command(<<"PING">>, [], _) -> <<"+PONG\r\n">>;
command(<<"ECHO">>, [V], _) -> bulk(V);
command(<<"SET">>, [K, V], Tab) -> ets:insert(Tab, {K, V}), <<"+OK\r\n">>;
command(<<"GET">>, [K], Tab) -> bulk(get(Tab, K));
command(<<"DEL">>, Ks, Tab) ->
    int(length([K || K <- Ks, ets:take(Tab, K) =/= []]));
command(<<"EXISTS">>, Ks, Tab) ->
    int(length([K || K <- Ks, ets:member(Tab, K)]));
command(<<"INCR">>, [K], Tab) ->
    V = case get(Tab, K) of undefined -> 0; B -> binary_to_integer(B) end + 1,
    ets:insert(Tab, {K, integer_to_binary(V)}),
    int(V);
command(<<"MGET">>, Ks, Tab) ->
    [$*, integer_to_binary(length(Ks)), <<"\r\n">> | [bulk(get(Tab, K)) || K <- Ks]];
command(<<"MSET">>, KVs, Tab) -> mset(KVs, Tab);
command(<<"CONFIG">>, _, _) -> <<"*0\r\n">>;
command(Cmd, _, _) -> [<<"-ERR unknown command '">>, Cmd, <<"'\r\n">>].

mset([K, V | Rest], Tab) -> ets:insert(Tab, {K, V}), mset(Rest, Tab);
mset([], _) -> <<"+OK\r\n">>.
