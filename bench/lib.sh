# Shared by the HTTP benchmarks (sourced).

# write_verify_lua <file> <key> <root key>: a wrk script that posts keys.verifyKey for <key>.
write_verify_lua() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = '{"key":"$2"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $3"
LUA
}

# The caller sets `build`, `dir` (a temporary folder it removes) and `root` (random_root_key), and
# kills "${pids[@]}" on exit.
pids=()

random_root_key() { echo "tg_root_$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"; }

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

call() {  # port route body
  curl -sf -H "Authorization: Bearer $root" -H 'Content-Type: application/json' "http://127.0.0.1:$1/v2/$2" -d "$3"
}

# launch_tollgate <name> [serve flags...]: a tollgate on the store $dir/<name>.db (created if
# missing) with root key $root, once its /readyz answers 200 (waiting up to $ready_seconds, 10 by
# default); sets port_<name> and pid_<name>.
launch_tollgate() {
  local name=$1 port
  shift
  port=$(free_port)
  TOLLGATE_ROOT_KEY=$root "$build/src/app/tollgate" serve --listen "127.0.0.1:$port" --store "sqlite://$dir/$name.db" \
    --log-level warn "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  pids+=($!)
  printf -v "pid_$name" '%s' "$!"
  printf -v "port_$name" '%s' "$port"
  wait_http "http://127.0.0.1:$port/readyz" 200 "$!" "${ready_seconds:-10}" || {
    echo "bench: tollgate $* did not get ready:" >&2
    cat "$dir/$name.err" >&2
    exit 1
  }
}

# wait_http <url> <status> <pid> [seconds]: waits up to <seconds> (10) until <url> answers
# <status> (any status when <status> is "any"), polling every 20 ms; fails at once when process
# <pid> is gone.
wait_http() {
  local got deadline=$(($(date +%s) + ${4:-10}))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    kill -0 "$3" 2>/dev/null || return 1
    got=$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true)
    if [ "$2" = any ] && [ "$got" != 000 ] || [ "$got" = "$2" ]; then return 0; fi
    sleep 0.02
  done
  return 1
}

# make_workdir: sets `dir` to a new temporary folder, and traps exit to stop everything the
# script started (stop_started) and remove the folder.
make_workdir() {
  dir=$(mktemp -d)
  trap 'stop_started; rm -rf "$dir"' EXIT
}

# stop_started: SIGTERM every process in "${pids[@]}" and wait for them, and stop the Redis
# shards of start_redis_shards.
stop_started() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -d "$dir/redis" ]; then "$redis_sh" stop "$dir/redis" >/dev/null 2>&1 || true; fi
}

# start_redis_shards <count>: throw-away redis-servers (tests/scripts/redis.sh) on free loopback
# ports under $dir/redis; sets shards (their ports) and redis_list ("127.0.0.1:<port>,...").
redis_sh="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/scripts/redis.sh"
start_redis_shards() {
  shards=()
  for _ in $(seq "$1"); do shards+=("$(free_port)"); done
  "$redis_sh" start "$dir/redis" "${shards[@]}" >/dev/null
  redis_list=$(printf '127.0.0.1:%s,' "${shards[@]}" | sed 's/,$//')
}

# stop_process <pid>: SIGTERM, wait for it to exit, and forget it (so cleanup does not signal a
# pid that may be reused).
stop_process() {
  local pid kept=()
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

# start_tollgate <name> [serve flags...]: a tollgate on a fresh store with one API and one key
# whose autoApply limit never denies (every verification takes a limiter decision); sets
# port_<name>, key_<name> and keyid_<name>.
start_tollgate() {
  local name=$1 port_var="port_$1" port api created
  launch_tollgate "$@"
  port=${!port_var}
  call "$port" apis.createApi '{"name":"bench"}' >"$dir/$name.api"
  api=$(sed -n 's/.*"apiId":"\([^"]*\)".*/\1/p' "$dir/$name.api")
  created=$(call "$port" keys.createKey "{\"apiId\":\"$api\",\"ratelimits\":[{\"name\":\"bench\",\"limit\":1000000000,\"duration\":1000,\"autoApply\":true}]}")
  printf -v "key_$name" '%s' "$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$created")"
  printf -v "keyid_$name" '%s' "$(sed -n 's/.*"keyId":"\([^"]*\)".*/\1/p' <<<"$created")"
}

# run_wrk <name> <connections> <seconds> [threads]: wrk against tollgate <name>'s key (the wrk
# script $dir/<name>.lua); prints "<requests/s> <p50> <p99>", and fails on any non-2xx answer.
run_wrk() {
  local port_var="port_$1" threads=${4:-$(($2 < 2 ? 1 : 2))} out
  out=$(wrk -t$threads -c"$2" -d"$3s" --latency -s "$dir/$1.lua" "http://127.0.0.1:${!port_var}/v2/keys.verifyKey")
  if grep -q 'Non-2xx' <<<"$out"; then
    echo "bench: $1: non-2xx answers under load:" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") $(awk '$1 == "50%" {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}

# write_round_robin_lua <file> <keys file> <verify|bearer> [root key]: a wrk script that cycles
# through the keys of <keys file> (one a line; written into the script as a Lua table), one key
# per request, in order: "verify" posts {"key": …} to the URL's path with the root key, "bearer"
# GETs the URL's path with `Authorization: Bearer <key>`. Each request is formatted once, in
# init. Its done() prints "wrk-result <requests/s> <p50> <p99> <p99.9> <non-2xx> <socket errors>"
# (latencies in µs) for wrk_stats.
write_round_robin_lua() {
  {
    echo "-- Generated by bench/lib.sh (write_round_robin_lua): round-robin over $(wc -l <"$2") keys."
    echo 'local mode, root = "'"$3"'", "'"${4:-}"'"'
    echo 'local keys = {'
    sed 's/.*/  "&",/' "$2"
    echo '}'
    cat <<'LUA'
local formatted = {}
local next_index = 0

init = function(args)
  for i, key in ipairs(keys) do
    if mode == "verify" then
      formatted[i] = wrk.format("POST", nil,
        { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. root },
        '{"key":"' .. key .. '"}')
    else
      formatted[i] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. key })
    end
  end
end

request = function()
  next_index = next_index % #formatted + 1
  return formatted[next_index]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-result %.1f %d %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
  } >"$1"
}

# wrk_stats <lua script> <url> <connections> <seconds>: one wrk thread; prints
# "<requests/s> <p50 µs> <p99 µs> <p99.9 µs>", and fails on any non-2xx answer or socket error.
wrk_stats() {
  local out rps p50 p99 p999 status errors
  out=$(wrk -t1 -c"$3" -d"$4s" -s "$1" "$2")
  read -r _ rps p50 p99 p999 status errors <<<"$(grep '^wrk-result ' <<<"$out")"
  if [ -z "$rps" ] || [ "$status" != 0 ] || [ "$errors" != 0 ]; then
    echo "bench: $2: non-2xx answers or socket errors under load:" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "$rps $p50 $p99 $p999"
}

# start_nginx <name> <workers> <http block file>: nginx in the foreground (`daemon off`, a child
# of this script, like tests/integration/lib/nginx.mjs) with <workers> worker processes and the
# server blocks of <http block file>; its pid file, logs and temp paths live in $dir/<name>/.
# Sets pid_<name>. The caller picks the ports (free_port) and waits for them (wait_http).
start_nginx() {
  local home="$dir/$1" user=""
  mkdir -p "$home/tmp"
  [ "$(id -u)" -eq 0 ] && user="user root root;"
  cat >"$home/nginx.conf" <<CONF
# Generated by bench/lib.sh (start_nginx).
$user
worker_processes $2;
pid $home/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $home/tmp/client_body;
    proxy_temp_path $home/tmp/proxy;
    fastcgi_temp_path $home/tmp/fastcgi;
    uwsgi_temp_path $home/tmp/uwsgi;
    scgi_temp_path $home/tmp/scgi;
    include $3;
}
CONF
  nginx -p "$home" -e "$home/error.log" -c "$home/nginx.conf" -g 'daemon off;' >"$home/out.txt" 2>&1 &
  pids+=($!)
  printf -v "pid_$1" '%s' "$!"
}

# rss_kib <pid>: the resident memory of a process and its children (nginx's workers), in KiB.
rss_kib() {
  local total=0 pid
  for pid in "$1" $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
    total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
