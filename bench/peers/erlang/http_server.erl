%% http_server — examples/http_server.lua written with gen_tcp, for the
%% HTTP row of bench/run.sh: HTTP/1.1 keep-alive, GET / -> "hello\n",
%% anything else 404, a process per connection. It reads requests with
%% {packet, http_bin}, as an Erlang server would (gen_tcp parses the
%% request line and headers in the VM's C code).
%%
%%   erlc -o /tmp/x bench/peers/erlang/http_server.erl
%%   erl -noshell -pa /tmp/x -run http_server main 8080
-module(http_server).
-export([main/1, conn/0]).

main([PortStr]) ->
    {ok, L} = gen_tcp:listen(list_to_integer(PortStr),
                             [binary, {ip, {127, 0, 0, 1}}, {active, false}, {reuseaddr, true},
                              {backlog, 1024}, {packet, http_bin}, {nodelay, true}]),
    io:format("listening~n"),
    accept(L).

accept(L) ->
    {ok, S} = gen_tcp:accept(L),
    Pid = spawn(?MODULE, conn, []),
    ok = gen_tcp:controlling_process(S, Pid),
    Pid ! {socket, S},
    accept(L).

conn() -> receive {socket, S} -> request(S) end.

request(S) ->
    case gen_tcp:recv(S, 0) of
        {ok, {http_request, Method, {abs_path, Path}, Version}} ->
            Keep = headers(S, Version =:= {1, 1}),
            respond(S, Method, Path, Keep);
        {ok, {http_request, _, _, _}} -> bad(S);
        {ok, {http_error, _}} -> bad(S);
        _ -> ok
    end.

headers(S, Keep) ->
    case gen_tcp:recv(S, 0) of
        {ok, {http_header, _, 'Connection', _, V}} ->
            case string:lowercase(V) of
                <<"close">> -> headers(S, false);
                <<"keep-alive">> -> headers(S, true);
                _ -> headers(S, Keep)
            end;
        {ok, {http_header, _, _, _, _}} -> headers(S, Keep);
        {ok, http_eoh} -> Keep;
        _ -> closed
    end.

respond(_, _, _, closed) -> ok;
respond(S, Method, Path, Keep) ->
    {Status, Body} = case {Method, Path} of
                         {'GET', <<"/">>} -> {<<"200 OK">>, <<"hello\n">>};
                         _ -> {<<"404 Not Found">>, <<"not found\n">>}
                     end,
    Conn = case Keep of true -> <<>>; false -> <<"Connection: close\r\n">> end,
    ok = gen_tcp:send(S, [<<"HTTP/1.1 ">>, Status, <<"\r\nContent-Type: text/plain\r\nContent-Length: ">>,
                          integer_to_binary(byte_size(Body)), <<"\r\n">>, Conn, <<"\r\n">>, Body]),
    case Keep of
        true -> request(S);
        false -> gen_tcp:close(S)
    end.

bad(S) ->
    gen_tcp:send(S, <<"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n">>),
    gen_tcp:close(S).
