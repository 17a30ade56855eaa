#!/usr/bin/env bash
# What Prometheus metrics cost a verification: two tollgates, one with --metrics true (the
# default) and one with --metrics false, each with one key under an autoApply limit that never
# denies, driven by wrk in turn (1 thread, 32 connections, alternating rounds so that a busy
# neighbour weighs on both alike). Prints each round and the ratio of the medians.
# Usage: bench/metrics_overhead.sh [build-dir] [seconds per run] [rounds]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build=${1:-build}
seconds=${2:-5}
rounds=${3:-4}
make_workdir

root=$(random_root_key)
start_tollgate on --metrics true
start_tollgate off --metrics false
for name in on off; do
  key_var="key_$name"
  write_verify_lua "$dir/$name.lua" "${!key_var}" "$root"
done
# The "on" node really records: its verifications show in /metrics; the "off" node has none.
curl -sf "http://127.0.0.1:$port_on/metrics" >/dev/null || { echo "metrics_overhead.sh: no /metrics with --metrics true" >&2; exit 1; }
if curl -sf "http://127.0.0.1:$port_off/metrics" >/dev/null; then
  echo "metrics_overhead.sh: /metrics answered with --metrics false" >&2
  exit 1
fi

echo "== keys.verifyKey with metrics on and off (wrk -t1 -c32, ${seconds}s per run, $rounds rounds, alternating)"
printf '%-6s %6s %12s %10s %10s\n' round metrics 'requests/s' p50 p99
declare -a rps_on rps_off
for round in $(seq "$rounds"); do
  order="on off"
  [ $((round % 2)) -eq 0 ] && order="off on"
  for name in $order; do
    read -r rps p50 p99 <<<"$(run_wrk "$name" 32 "$seconds" 1)"
    printf '%-6s %6s %12s %10s %10s\n' "$round" "$name" "$rps" "$p50" "$p99"
    if [ "$name" = on ]; then rps_on+=("$rps"); else rps_off+=("$rps"); fi
  done
done
verified=$(curl -sf "http://127.0.0.1:$port_on/metrics" | awk '/^tollgate_verifications_total\{code="VALID"/ {s += $2} END {print s + 0}')
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
on=$(median "${rps_on[@]}")
off=$(median "${rps_off[@]}")
awk -v on="$on" -v off="$off" -v n="$verified" 'BEGIN {
  printf "median: metrics on %.0f req/s, off %.0f req/s: on/off = %.3f (%+.1f %%); the on node counted %d VALID verifications\n",
         on, off, on / off, (on / off - 1) * 100, n }'
