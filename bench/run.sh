#!/usr/bin/env bash
# Runs tollgate's benchmarks and prints their figures. Usage: bench/run.sh [build-dir]
# The in-process figures are medians of 5 runs, interleaved at random so that a busy neighbour on
# a shared machine weighs on every benchmark alike; the last lines say what recording usage adds
# to a verification (see BM_RecordingCost in verify_bench.cc). Then tollgate side by side with
# nginx, a Node.js peer and nginx's limit_req (compare.sh: 3 rounds of 5 s runs, writes
# bench/results/compare-<date>.md), and a store of a million keys (million_keys.sh).
set -euo pipefail
build=${1:-build}
echo "== in-process verification and usage recording (Google Benchmark, medians of 5 runs)"
"$build/bench/verify_bench" --benchmark_min_time=0.5 --benchmark_repetitions=5 \
  --benchmark_enable_random_interleaving=true --benchmark_display_aggregates_only=true |
  grep -v -E '_(mean|stddev|cv) '
echo "== limiter decisions (Google Benchmark)"
"$build/bench/limiter_bench" --benchmark_min_time=0.5
bench/http_verify.sh "$build" 5
bench/http_verify.sh "$build" 5 tls
bench/redis_limiter.sh "$build" 5
bench/metrics_overhead.sh "$build" 5 4
bench/compare.sh "$build" 5 3
bench/million_keys.sh "$build"
