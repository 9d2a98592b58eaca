%% Kills the node_kv server or halts its node when told (spec/node_monitor_spec).
-module(node_stopper).
-export([run/0]).
run() -> register(stopper, self()), loop().
loop() -> receive {stop, _} -> exit(whereis(kv), kill), loop(); {halt, _} -> erlang:halt() end.
