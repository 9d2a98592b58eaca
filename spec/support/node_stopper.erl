%% Kills the node_kv server or halts its node when told
%% (spec/node_monitor_spec); says it is ready by creating a file once
%% registered.
-module(node_stopper).
-export([run/1]).

run(Ready) ->
    register(stopper, self()),
    ok = file:write_file(Ready, <<>>),
    loop().

loop() ->
    receive
        {stop, _} -> exit(whereis(kv), kill), loop();
        {halt, _} -> erlang:halt()
    end.
