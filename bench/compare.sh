#!/usr/bin/env bash
# tollgate side by side with what a user would pick instead (issue 9), measured in one invocation
# on this machine. Builds nothing (`make bench` builds Release first); every server runs on
# loopback on free ports, and everything stops on exit:
#   tg1, tg2      tollgate, embedded limiter, --workers 1 and 2;
#   nginx1, 2     nginx `return 200` with a fixed keys.verifyKey answer, 1 and 2 worker processes:
#                 the ceiling of loopback HTTP here;
#   node_memory   bench/node-peer/server.mjs: fastify + rate-limiter-flexible doing the same work
#                 (root key check, SHA-256 look-up of the key, a limit), RateLimiterMemory;
#   node_redis    the same with RateLimiterRedis (ioredis) over the three Redis shards below;
#   tg_redis      tollgate, --workers 2, Redis limiter over three redis-servers (tests/scripts/redis.sh);
#   gateway       nginx auth_request -> tollgate GET /v2/keys.authorize (deploy/nginx/tollgate-gateway.conf,
#                 its marked addresses replaced), then proxied to a `return 200` upstream;
#   limit_req     nginx's own limit_req keyed by the Authorization header in front of the same upstream.
# One tollgate creates the keys (bench/node-peer/create-keys.mjs, keep-alive calls in parallel), and
# every tollgate then starts on a copy of that store: all contenders hold the same keys, each with
# an autoApply rate limit that never denies, so every verification takes a limiter decision.
# wrk (1 thread) posts keys.verifyKey with the keys in turn (the gateway and limit_req get GET /
# with `Authorization: Bearer <key>`), at 1 and at 32 connections, <seconds> per run, in <rounds>
# rounds whose order rotates, so that a busy neighbour weighs on every contender alike. Prints the
# medians and every comparison as a ratio of medians, and writes them as Markdown to
# bench/results/compare-<date>.md.
# Usage: bench/compare.sh [build-dir] [seconds per run] [rounds]
# Environment: BENCH_KEYS (default 10000), BENCH_ONLY="tg1 nginx1 ..." runs only those contenders.
# shellcheck disable=SC2154  # port_<name> and pid_<name> are set through printf -v (lib.sh)
set -euo pipefail
bench="$(cd "$(dirname "$0")" && pwd)"
source "$bench/lib.sh"
build=${1:-build}
seconds=${2:-5}
rounds=${3:-3}
key_count=${BENCH_KEYS:-10000}
repo=$(dirname "$bench")
peer="$bench/node-peer"

for tool in wrk nginx redis-server redis-cli node curl; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found; run make deps" >&2; exit 1; }
done
[ -d "$peer/node_modules/fastify" ] || { echo "compare.sh: $peer has no node_modules; run make deps" >&2; exit 1; }
[ -x "$build/src/app/tollgate" ] || { echo "compare.sh: no $build/src/app/tollgate; build first (make bench)" >&2; exit 1; }

make_workdir

# name|what|path|wrk mode (verify: POST keys.verifyKey; bearer: GET with the key as bearer token)
contenders=(
  "tg1|tollgate embedded, 1 worker|/v2/keys.verifyKey|verify"
  "tg2|tollgate embedded, 2 workers|/v2/keys.verifyKey|verify"
  "nginx1|nginx return 200, 1 worker|/v2/keys.verifyKey|verify"
  "nginx2|nginx return 200, 2 workers|/v2/keys.verifyKey|verify"
  "node_memory|Node peer, memory store (1 process)|/v2/keys.verifyKey|verify"
  "node_redis|Node peer, Redis store, 3 shards (1 process)|/v2/keys.verifyKey|verify"
  "tg_redis|tollgate Redis limiter, 3 shards, 2 workers|/v2/keys.verifyKey|verify"
  "gateway|nginx auth_request -> tollgate keys.authorize (1 + 1 workers)|/|bearer"
  "limit_req|nginx limit_req by key, no key check (1 worker)|/|bearer"
)
# numerator|denominator|target (minimum ratio, or - for none)
comparisons=(
  "tg1|nginx1|0.9" "tg2|nginx2|0.9"
  "tg1|node_memory|5" "tg2|node_memory|5"
  "tg_redis|tg2|0.5" "tg_redis|node_redis|3"
  "gateway|limit_req|-"
)
p99_targets="tg1 tg2 tg_redis"  # p99 <= 1 ms at 32 connections

wanted() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }
names=()
for c in "${contenders[@]}"; do
  IFS='|' read -r name _ _ _ <<<"$c"
  if wanted "$name"; then names+=("$name"); fi
done
field() {  # field <name> <1-based field of its contenders line>
  local c
  for c in "${contenders[@]}"; do
    if [[ $c == "$1|"* ]]; then cut -d'|' -f"$2" <<<"$c"; fi
  done
}

# --- Redis, the keys, and the tollgates on copies of one store. ---
start_redis_shards 3

root=$(random_root_key)
# The same node name everywhere: each copy sees the seed's outbox events as its own.
launch_tollgate seed --node bench
created=$(TOLLGATE_ROOT_KEY=$root node "$peer/create-keys.mjs" "http://127.0.0.1:$port_seed" "$key_count" "$dir")
echo "== created $created (keys.createKey, 16 keep-alive calls in flight)"
stop_process "$pid_seed"
for name in tg1 tg2 tg_redis gateway_tollgate; do
  for suffix in "" -wal; do
    if [ -f "$dir/seed.db$suffix" ]; then cp "$dir/seed.db$suffix" "$dir/$name.db$suffix"; fi
  done
done
if wanted tg1; then launch_tollgate tg1 --node bench --workers 1; fi
if wanted tg2; then launch_tollgate tg2 --node bench --workers 2; fi
if wanted tg_redis; then launch_tollgate tg_redis --node bench --workers 2 --limiter "redis://$redis_list"; fi
if wanted gateway; then launch_tollgate gateway_tollgate --node bench --workers 1; fi

# --- The Node peers. ---
start_peer() {  # start_peer <name> [server.mjs flags...]
  local name=$1 port
  shift
  port=$(free_port)
  node "$peer/server.mjs" --port "$port" --keys "$dir/peer-keys.json" "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  pids+=($!)
  printf -v "pid_$name" '%s' "$!"
  printf -v "port_$name" '%s' "$port"
  wait_http "http://127.0.0.1:$port/" any "$!" || { echo "compare.sh: $name did not start:" >&2; cat "$dir/$name.err" >&2; exit 1; }
}
if wanted node_memory; then start_peer node_memory; fi
if wanted node_redis; then start_peer node_redis --redis "$redis_list"; fi

# --- nginx. Every instance answers from a `return 200` server of its own config. ---
first_key=$(head -1 "$dir/keys.txt")
answer=$(curl -sf -H "Authorization: Bearer $root" -H 'Content-Type: application/json' \
  "http://127.0.0.1:${port_tg1:-${port_tg2:-0}}/v2/keys.verifyKey" -d "{\"key\":\"$first_key\"}" 2>/dev/null ||
  echo '{"meta":{"requestId":"req_0"},"data":{"valid":true,"code":"VALID"}}')
return_200() {  # return_200 <port>: a server that answers every request with the fixed answer
  printf 'server {\n    listen 127.0.0.1:%s;\n    location / {\n        default_type application/json;\n        return 200 %s;\n    }\n}\n' \
    "$1" "'${answer//\'/}'"
}
for workers in 1 2; do
  wanted "nginx$workers" || continue
  port=$(free_port)
  return_200 "$port" >"$dir/nginx$workers.http"
  start_nginx "nginx$workers" "$workers" "$dir/nginx$workers.http"
  printf -v "port_nginx$workers" '%s' "$port"
done

# The deploy file with its three marked addresses replaced (each marker exactly once, as the
# integration test requires), plus the upstream app.
gateway_conf() {  # gateway_conf <tollgate port> <app port> <listen port>
  local marker
  for marker in tollgate app listen; do
    if [ "$(grep -c "# test: $marker *$" "$repo/deploy/nginx/tollgate-gateway.conf")" != 1 ]; then
      echo "compare.sh: deploy/nginx/tollgate-gateway.conf: expected one line marked '# test: $marker'" >&2
      exit 1
    fi
  done
  sed -E -e "s|^( *)server +[^ ;]+; *# test: tollgate *$|\1server 127.0.0.1:$1;|" \
    -e "s|^( *)server +[^ ;]+; *# test: app *$|\1server 127.0.0.1:$2;|" \
    -e "s|^( *)listen +[^;]+; *# test: listen *$|\1listen 127.0.0.1:$3;|" "$repo/deploy/nginx/tollgate-gateway.conf"
  return_200 "$2"
}
limit_req_conf() {  # limit_req_conf <app port> <listen port>: the same upstream behind limit_req
  cat <<CONF
limit_req_zone \$http_authorization zone=bench_keys:16m rate=100000000r/s;
upstream app {
    server 127.0.0.1:$1;
    keepalive 32;
}
server {
    listen 127.0.0.1:$2;
    location / {
        limit_req zone=bench_keys burst=1000000 nodelay;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://app;
    }
}
CONF
  return_200 "$1"
}
if wanted gateway; then
  port_gateway=$(free_port)
  gateway_conf "$port_gateway_tollgate" "$(free_port)" "$port_gateway" >"$dir/gateway.http"
  start_nginx gateway 1 "$dir/gateway.http"
fi
if wanted limit_req; then
  port_limit_req=$(free_port)
  limit_req_conf "$(free_port)" "$port_limit_req" >"$dir/limit_req.http"
  start_nginx limit_req 1 "$dir/limit_req.http"
fi
for name in "${names[@]}"; do
  pid_var="pid_$name" port_var="port_$name"
  wait_http "http://127.0.0.1:${!port_var}/" any "${!pid_var}" || {
    echo "compare.sh: $name did not start:" >&2
    cat "$dir/$name/error.log" "$dir/$name.err" 2>/dev/null >&2
    exit 1
  }
done

# --- Every contender answers as it should, before and after the load. ---
check() {  # check <name>: a known key passes, an unknown one does not
  local name=$1 port_var="port_$1" url good bad
  url="http://127.0.0.1:${!port_var}$(field "$name" 3)"
  if [ "$(field "$name" 4)" = bearer ]; then
    good=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $first_key" "$url")
    bad=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer nope_$first_key" "$url")
    [ "$good" = 200 ] && { [ "$name" = limit_req ] || [ "$bad" = 401 ]; } && return
    echo "compare.sh: $name answered $good for a valid key and $bad for an unknown one" >&2
  else
    good=$(curl -s -H "Authorization: Bearer $root" -H 'Content-Type: application/json' "$url" -d "{\"key\":\"$first_key\"}")
    bad=$(curl -s -H "Authorization: Bearer $root" -H 'Content-Type: application/json' "$url" -d "{\"key\":\"nope_$first_key\"}")
    [[ $good == *'"code":"VALID"'* ]] && { [[ $name == nginx* ]] || [[ $bad == *'"valid":false'* ]]; } && return
    echo "compare.sh: $name: valid key -> $good; unknown key -> $bad" >&2
  fi
  exit 1
}
for name in "${names[@]}"; do check "$name"; done

for name in "${names[@]}"; do
  write_round_robin_lua "$dir/$name.lua" "$dir/keys.txt" "$(field "$name" 4)" "$root"
done
# redis_commands <name> <sign>: adds <sign> x each shard's total_commands_processed to <name>'s
# lines in $dir/redis_commands.txt (called with -1 before a run and 1 after it).
redis_commands() {
  local i
  for i in "${!shards[@]}"; do
    redis-cli -p "${shards[$i]}" info stats |
      awk -F: -v n="$1" -v i="$i" -v s="$2" '/^total_commands_processed:/ {print n, i, s * $2}'
  done >>"$dir/redis_commands.txt"
}
url_of() { local port_var="port_$1"; echo "http://127.0.0.1:${!port_var}$(field "$1" 3)"; }

echo "== warm-up: 1 s per contender at 32 connections"
for name in "${names[@]}"; do wrk_stats "$dir/$name.lua" "$(url_of "$name")" 32 1 >/dev/null; done

echo "== wrk -t1, ${seconds}s per run, $rounds rounds at 1 and at 32 connections, the order rotating"
printf '%-12s %5s %5s %11s %8s %8s %8s\n' contender conns round 'requests/s' 'p50 µs' 'p99 µs' 'p99.9 µs'
: >"$dir/runs.tsv"
for conns in 1 32; do
  for round in $(seq "$rounds"); do
    order=("${names[@]:$(( (round - 1) % ${#names[@]} ))}" "${names[@]:0:$(( (round - 1) % ${#names[@]} ))}")
    for name in "${order[@]}"; do
      [[ $name == *redis ]] && redis_commands "$name" -1
      read -r rps p50 p99 p999 <<<"$(wrk_stats "$dir/$name.lua" "$(url_of "$name")" "$conns" "$seconds")"
      [[ $name == *redis ]] && redis_commands "$name" 1
      printf '%-12s %5s %5s %11.0f %8s %8s %8s\n' "$name" "$conns" "$round" "$rps" "$p50" "$p99" "$p999"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$conns" "$name" "$round" "$rps" "$p50" "$p99" "$p999" >>"$dir/runs.tsv"
    done
  done
done
for name in "${names[@]}"; do check "$name"; done

# The Redis contenders did go through Redis, on every shard: the commands each shard ran during
# their runs (counters expire with the 1 s window, so none are left to count afterwards).
redis_note=""
for name in node_redis tg_redis; do
  wanted "$name" || continue
  redis_note+="Redis commands run per shard during the runs of $name: $(awk -v n="$name" \
    '$1 == n {s[$2] += $3} END {for (i = 0; i < 3; i++) printf "%s%d", (i ? " / " : ""), s[i]}' "$dir/redis_commands.txt"). "
done
if wanted tg_redis; then
  redis_note+="tollgate's breaker trips and lost connections logged: $(grep -c -E 'not answering|connection lost' "$dir/tg_redis.err" || true)."
fi

# --- Medians and ratios, as Markdown. ---
for name in "${names[@]}"; do
  pid_var="pid_$name"
  echo "$name $(rss_kib "${!pid_var}")"
done >"$dir/rss.txt"
median_of() {  # median_of <conns> <name> <column 4..7 of runs.tsv>
  awk -F'\t' -v c="$1" -v n="$2" -v col="$3" '$1 == c && $2 == n {print $col}' "$dir/runs.tsv" | sort -g |
    awk '{a[NR] = $1} END {if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'
}
mkdir -p "$bench/results"
report="$bench/results/compare-$(date +%Y-%m-%d-%H%M).md"
{
  echo "# tollgate side by side, $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  echo "\`bench/compare.sh $build $seconds $rounds\` on $(nproc) cores ($(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)),"
  echo "$(uname -sr); $(nginx -v 2>&1 | sed 's/.*: //'), node $(node --version), redis $(redis-server --version | awk '{print $3}' | tr -d 'v='),"
  echo "wrk 4.1 with 1 thread. $created. Medians of $rounds runs of ${seconds}s each; the runs of all"
  echo "contenders alternate (the order rotates every round), and wrk shares the cores with the servers."
  echo
  echo "| contender | | conns | requests/s | p50 µs | p99 µs | p99.9 µs | runs (requests/s) | RSS after |"
  echo "|---|---|---:|---:|---:|---:|---:|---|---:|"
  for conns in 1 32; do
    for name in "${names[@]}"; do
      runs=$(awk -F'\t' -v c="$conns" -v n="$name" '$1 == c && $2 == n {printf "%s%.0f", sep, $4; sep = " / "}' "$dir/runs.tsv")
      printf '| %s | %s | %s | %.0f | %s | %s | %s | %s | %s MiB |\n' "$name" "$(field "$name" 2)" "$conns" \
        "$(median_of "$conns" "$name" 4)" "$(median_of "$conns" "$name" 5)" "$(median_of "$conns" "$name" 6)" \
        "$(median_of "$conns" "$name" 7)" "$runs" "$(awk -v n="$name" '$1 == n {printf "%.0f", $2 / 1024}' "$dir/rss.txt")"
    done
  done
  echo
  echo "| comparison (ratio of median requests/s) | conns | ratio | target |"
  echo "|---|---:|---:|---|"
  for spec in "${comparisons[@]}"; do
    IFS='|' read -r a b target <<<"$spec"
    if ! wanted "$a" || ! wanted "$b"; then continue; fi
    for conns in 1 32; do
      verdict="-"
      if [ "$target" != - ] && [ "$conns" = 32 ]; then
        verdict=$(awk -v r="$(median_of 32 "$a" 4)" -v d="$(median_of 32 "$b" 4)" -v t="$target" \
          'BEGIN {printf "≥ %s: %s", t, (r / d >= t ? "met" : "not met")}')
      fi
      awk -v r="$(median_of "$conns" "$a" 4)" -v d="$(median_of "$conns" "$b" 4)" -v a="$a" -v b="$b" \
        -v c="$conns" -v v="$verdict" 'BEGIN {printf "| %s / %s | %s | %.2f | %s |\n", a, b, c, r / d, v}'
    done
  done
  for name in $p99_targets; do
    wanted "$name" || continue
    awk -v p="$(median_of 32 "$name" 6)" -v a="$name" \
      'BEGIN {printf "| p99 of %s (median of the runs) | 32 | %d µs | ≤ 1000 µs: %s |\n", a, p, (p <= 1000 ? "met" : "not met")}'
  done
  if [ -n "$redis_note" ]; then echo; echo "$redis_note"; fi
} >"$report"
echo
cat "$report"
echo
echo "(written to ${report#"$repo/"})"
