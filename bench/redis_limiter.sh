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
redis_sh="$(cd "$(dirname "$0")/.." && pwd)/tests/scripts/redis.sh"
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$redis_sh" stop "$dir/redis" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

# A loopback port nothing listens on, and not handed out before in this run.
taken=" "
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 30000))
    case "$taken" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      taken="$taken$port "
      echo "$port"
      return
    fi
  done
}

shards=()
for _ in 1 2 3; do shards+=("$(free_port)"); done
"$redis_sh" start "$dir/redis" "${shards[@]}" >/dev/null
redis_url="redis://$(printf '127.0.0.1:%s,' "${shards[@]}" | sed 's/,$//')"

root="tg_root_$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
call() {  # port route body
  curl -sf -H "Authorization: Bearer $root" -H 'Content-Type: application/json' "http://127.0.0.1:$1/v2/$2" -d "$3"
}

# start <name> <limiter>: a tollgate on a fresh store with one API and one key; sets port_<name>,
# key_<name> and keyid_<name>.
start() {
  local name=$1 limiter=$2 port api created
  port=$(free_port)
  TOLLGATE_ROOT_KEY=$root "$build/src/app/tollgate" serve --listen "127.0.0.1:$port" --store "sqlite://$dir/$name.db" \
    --log-level warn --limiter "$limiter" >"$dir/$name.out" 2>"$dir/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do call "$port" apis.createApi '{"name":"bench"}' >"$dir/$name.api" 2>/dev/null && break; sleep 0.1; done
  api=$(sed -n 's/.*"apiId":"\([^"]*\)".*/\1/p' "$dir/$name.api")
  if [ -z "$api" ]; then
    echo "redis_limiter.sh: tollgate --limiter $limiter did not start:" >&2
    cat "$dir/$name.err" >&2
    exit 1
  fi
  created=$(call "$port" keys.createKey "{\"apiId\":\"$api\",\"ratelimits\":[{\"name\":\"bench\",\"limit\":1000000000,\"duration\":1000,\"autoApply\":true}]}")
  printf -v "port_$name" '%s' "$port"
  printf -v "key_$name" '%s' "$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$created")"
  printf -v "keyid_$name" '%s' "$(sed -n 's/.*"keyId":"\([^"]*\)".*/\1/p' <<<"$created")"
}

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
  threads=$((conns < 2 ? 1 : 2))
  for limiter in memory redis; do
    port_var="port_$limiter"
    out=$(wrk -t$threads -c$conns -d"${seconds}s" --latency -s "$dir/$limiter.lua" \
      "http://127.0.0.1:${!port_var}/v2/keys.verifyKey")
    if grep -q 'Non-2xx' <<<"$out"; then
      echo "redis_limiter.sh: $limiter: non-2xx answers under load:" >&2
      echo "$out" >&2
      exit 1
    fi
    printf '%-8s %6s %12s %10s %10s\n' "$limiter" "$conns" \
      "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" \
      "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
      "$(awk '$1 == "99%" {print $2}' <<<"$out")"
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
