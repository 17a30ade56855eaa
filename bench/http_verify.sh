#!/usr/bin/env bash
# keys.verifyKey over HTTP on loopback with wrk: starts tollgate on a temporary store, creates
# one API and one key, and drives verifies at 1 and 32 connections for a few seconds each.
# With `tls` as the third argument, over HTTPS (--tls-cert/--tls-key, a P-256 certificate made
# for the run); wrk keeps its connections, so this is TLS's cost per request, not per handshake.
# Usage: bench/http_verify.sh [build-dir] [seconds] [tls]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build=${1:-build}
seconds=${2:-5}
mode=${3:-plain}
dir=$(mktemp -d)
port=18181
scheme=http
tls_flags=()
curl_tls=()
if [ "$mode" = tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  chmod 600 "$dir/key.pem"
  scheme=https
  tls_flags=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem")
  curl_tls=(--cacert "$dir/cert.pem")
fi
"$build/src/app/tollgate" serve --listen 127.0.0.1:$port --store "sqlite://$dir/t.db" --log-level warn \
  "${tls_flags[@]}" >"$dir/out.txt" 2>"$dir/err.txt" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q TOLLGATE_ROOT_KEY "$dir/out.txt" 2>/dev/null && break; sleep 0.1; done
root=$(sed -n 's/^TOLLGATE_ROOT_KEY=//p' "$dir/out.txt")
call() { curl -sf "${curl_tls[@]}" -H "Authorization: Bearer $root" -H 'Content-Type: application/json' \
  "$scheme://127.0.0.1:$port/v2/$1" -d "$2"; }
for _ in $(seq 50); do call apis.createApi '{"name":"bench"}' >"$dir/api.json" 2>/dev/null && break; sleep 0.1; done
api=$(sed -n 's/.*"apiId":"\([^"]*\)".*/\1/p' "$dir/api.json")
key=$(call keys.createKey "{\"apiId\":\"$api\"}" | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
write_verify_lua "$dir/verify.lua" "$key" "$root"
for conns in 1 32; do
  threads=$(( conns < 2 ? 1 : 2 ))
  echo "== keys.verifyKey over $scheme, $conns connection(s), ${seconds}s"
  wrk -t$threads -c$conns -d${seconds}s --latency -s "$dir/verify.lua" "$scheme://127.0.0.1:$port/v2/keys.verifyKey" |
    grep -E 'Requests/sec|  50%|  99%|Non-2xx'
done
