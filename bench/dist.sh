#!/usr/bin/env bash
# bench/dist.sh — gen_server calls and casts between two nodes on loopback,
# for bench/run.sh (RESULT lines on stdout):
#
#   bash bench/dist.sh erl_lua N MOONBEAM ERL EBIN   erl client -> moonbeam server
#   bash bench/dist.sh erl_erl N MOONBEAM ERL EBIN   erl client -> erl server (BEAM's row)
#   bash bench/dist.sh lua_lua N MOONBEAM ERL EBIN   moonbeam client -> moonbeam server
#
# EBIN holds bench_dist.beam. Both nodes register with an epmd of this run's
# own (a free port), which goes with them at the end.
set -u
kind=$1 n=$2 moonbeam=$3 erl=$4 ebin=$5
host=$(hostname -s)
server=dsrv$$ client=dcli$$

pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT

for _ in $(seq 20); do
    port=$((20000 + RANDOM % 12000))   # below the ephemeral range (see net.sh)
    epmd -port "$port" -relaxed_command_check & pids+=($!)
    for _ in $(seq 50); do ERL_EPMD_PORT=$port epmd -names >/dev/null 2>&1 && break 2; sleep 0.1; done
done
export ERL_EPMD_PORT=$port

case $kind in
    erl_erl) "$erl" -noshell -sname "$server" -setcookie bench -pa "$ebin" -run bench_dist main server & ;;
    *) "$moonbeam" run --sname "$server" --cookie bench bench/dist_server.lua & ;;
esac
pids+=($!)
case $kind in
    lua_lua) "$moonbeam" run --sname "$client" --cookie bench bench/dist_client.lua "$server@$host" "$n" ;;
    *) "$erl" -noshell -sname "$client" -setcookie bench -pa "$ebin" -run bench_dist main client "$server@$host" "$n" ;;
esac
