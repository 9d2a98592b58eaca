%% Kills the node_kv server or halts its node when told
%% (spec/node_monitor_spec), or spawns a process that ends with
%% {shutdown, because} once its From monitors it; says it is ready by
%% creating a file once registered.
-module(node_stopper).
-export([run/1]).

run(Ready) ->
    register(stopper, self()),
    ok = file:write_file(Ready, <<>>),
    loop().

loop() ->
    receive
        {stop, _} -> exit(whereis(kv), kill), loop();
        {shutdown_one, From} ->
            From ! spawn(fun() -> receive go -> exit({shutdown, because}) end end),
            loop();
        {halt, _} -> erlang:halt()
    end.
