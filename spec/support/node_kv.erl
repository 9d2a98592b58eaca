%% A key-value gen_server that moonbeam nodes call (spec/node_gen_server_spec).
-module(node_kv).
-behaviour(gen_server).
-export([start/0, init/1, handle_call/3, handle_cast/2]).

start() -> gen_server:start({local, kv}, ?MODULE, #{}, []).

init(S) -> {ok, S}.

handle_call({put, K, V}, _From, S) -> {reply, ok, S#{K => V}};
handle_call({get, K}, _From, S) -> {reply, {ok, maps:get(K, S, undefined)}, S};
handle_call(whoami, _From, S) -> {reply, self(), S};
handle_call(mortal, _From, S) -> {reply, spawn(fun() -> receive die -> exit(died) end end), S};
handle_call(nothing, _From, S) -> {reply, nil, S};
handle_call({sleep, Ms}, _From, S) -> timer:sleep(Ms), {reply, slept, S}.

handle_cast({put, K, V}, S) -> {noreply, S#{K => V}}.
