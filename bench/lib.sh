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

# start_tollgate <name> [serve flags...]: a tollgate on a fresh store with one API and one key
# whose autoApply limit never denies (every verification takes a limiter decision); sets
# port_<name>, key_<name> and keyid_<name>.
start_tollgate() {
  local name=$1 port api created
  shift
  port=$(free_port)
  TOLLGATE_ROOT_KEY=$root "$build/src/app/tollgate" serve --listen "127.0.0.1:$port" --store "sqlite://$dir/$name.db" \
    --log-level warn "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do call "$port" apis.createApi '{"name":"bench"}' >"$dir/$name.api" 2>/dev/null && break; sleep 0.1; done
  api=$(sed -n 's/.*"apiId":"\([^"]*\)".*/\1/p' "$dir/$name.api")
  if [ -z "$api" ]; then
    echo "bench: tollgate $* did not start:" >&2
    cat "$dir/$name.err" >&2
    exit 1
  fi
  created=$(call "$port" keys.createKey "{\"apiId\":\"$api\",\"ratelimits\":[{\"name\":\"bench\",\"limit\":1000000000,\"duration\":1000,\"autoApply\":true}]}")
  printf -v "port_$name" '%s' "$port"
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
