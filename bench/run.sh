#!/usr/bin/env bash
# Runs tollgate's benchmarks and prints their figures. Usage: bench/run.sh [build-dir]
set -euo pipefail
build=${1:-build}
echo "== in-process verification (Google Benchmark)"
"$build/bench/verify_bench" --benchmark_min_time=0.5
echo "== limiter decisions (Google Benchmark)"
"$build/bench/limiter_bench" --benchmark_min_time=0.5
bench/http_verify.sh "$build" 5
