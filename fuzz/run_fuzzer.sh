#!/bin/sh
# run_fuzzer.sh <fuzzer> <seed corpus> <work dir> <seconds> [libFuzzer flags...]
# Replays every input of the seed corpus (a crash there is a regression), then fuzzes for
# <seconds> (0: replay only). New inputs go to <work dir>/corpus and crash files to <work dir>/,
# so the seed corpus in the repository is only read. fuzz/<fuzzer>.dict is the dictionary and
# fuzz/<fuzzer>.flags holds extra flags (lines; '#' starts a comment), when present.
# Exits non-zero on a crash, a leak, a sanitizer report or a failed check.
set -eu
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
here=$(dirname "$0")
name=$(basename "$fuzzer")
mkdir -p "$work/corpus"
set -- -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" "$@"
[ -f "$here/$name.dict" ] && set -- -dict="$here/$name.dict" "$@"
[ -f "$here/$name.flags" ] && set -- $(grep -v '^#' "$here/$name.flags") "$@"
if [ "$seconds" -eq 0 ]; then
  exec "$fuzzer" -runs=0 "$@" "$seeds"
fi
exec "$fuzzer" -max_total_time="$seconds" "$@" "$work/corpus" "$seeds"
