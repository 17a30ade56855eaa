#!/usr/bin/env bash
# keys.verifyKey over HTTP on loopback through the embedded limiter and through the Redis limiter
# (three redis-server shards from tests/scripts/redis.sh), measured in the same run: one tollgate
# per limiter, each with one key whose autoApply rate limit is far too high to deny, so every
# verification takes a limiter decision (on the key's shard, for Redis). wrk drives them in turn,
# at 1 and then 32 connections, and one table compares them. Everything stops on exit.
# Usage: bench/redis_limiter.sh [build-dir] [seconds per run]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build=${1:-build}
seconds=${2:-5}
make_workdir
start_redis_shards 3
redis_url="redis://$redis_list"

root=$(random_root_key)
start() { start_tollgate "$1" --limiter "$2"; }

# check <name>: one verification is VALID and went through the "bench" limit.
check() {
  local port_var="port_$1" key_var="key_$1" answer
  answer=$(call "${!port_var}" keys.verifyKey "{\"key\":\"${!key_var}\"}")
  if [[ $answer != *'"code":"VALID"'* || $answer != *'"name":"bench"'* ]]; then
    echo "redis_limiter.sh: $1: a verification did not pass the limit: $answer" >&2
    exit 1
  fi
}

start memory memory
start redis "$redis_url"
check memory
check redis

for limiter in memory redis; do
  key_var="key_$limiter"
  write_verify_lua "$dir/$limiter.lua" "${!key_var}" "$root"
done

echo "== keys.verifyKey over HTTP through each limiter (wrk, ${seconds}s per row, alternating, one key"
echo "   with an autoApply limit that never denies; redis = 3 shards on this machine)"
printf '%-8s %6s %12s %10s %10s\n' limiter conns 'requests/s' p50 p99
for conns in 1 32; do
  for limiter in memory redis; do
    read -r rps p50 p99 <<<"$(run_wrk "$limiter" "$conns" "$seconds")"
    printf '%-8s %6s %12s %10s %10s\n' "$limiter" "$conns" "$rps" "$p50" "$p99"
  done
done
check memory
check redis

# The Redis runs did go through Redis: the key's counters are on one of the shards.
holders=()
# shellcheck disable=SC2154  # keyid_redis is set by start() through printf -v
for port in "${shards[@]}"; do
  if [ -n "$(redis-cli -p "$port" --scan --pattern "*$keyid_redis*")" ]; then holders+=("$port"); fi
done
if [ ${#holders[@]} -ne 1 ]; then
  echo "redis_limiter.sh: the key's counters are on ${#holders[@]} shards, expected exactly 1" >&2
  exit 1
fi
# Calls to a shard that stopped answering in time (20 ms) were decided by the failure policy, not
# by Redis: say how often the node gave up on a shard (3 timeouts in a row open its breaker).
trouble=$(grep -c -E 'not answering|connection lost' "$dir/redis.err" || true)
echo "(the key's counters are on the shard at 127.0.0.1:${holders[0]}; breaker trips logged: $trouble)"
