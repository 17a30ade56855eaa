#!/usr/bin/env bash
# Memory and start-up with a million keys (issue 9): fills an SQLite store with 1,000,000 keys,
# then starts tollgate on it and prints how long until GET /readyz answers 200, the resident
# memory (VmRSS of /proc/<pid>/status) then, and again after verifying a sample of the keys.
#
# The store is filled directly, not through keys.createKey (a million calls would take half an
# hour): tollgate first creates the schema, one API and one template key (with one autoApply rate
# limit, like the other benchmarks' keys), and stops; bench/key_rows.mjs generates the secrets and
# their SHA-256 hashes; sqlite3 imports them and copies the template row for each (every column
# as tollgate wrote it, whatever the schema version, but its own id, hash, start and rate limit id).
# tollgate loads every key into its cache at start (Store::LoadAllKeys), as it would after any
# restart.
# Usage: bench/million_keys.sh [build-dir] [key count]
# shellcheck disable=SC2154,SC2034  # lib.sh sets port_<name>, pid_<name> (printf -v) and reads build
set -euo pipefail
bench="$(cd "$(dirname "$0")" && pwd)"
source "$bench/lib.sh"
build=${1:-build}
count=${2:-1000000}
sample_every=100
for tool in sqlite3 node curl wrk; do
  command -v "$tool" >/dev/null || { echo "million_keys.sh: $tool not found; run make deps" >&2; exit 1; }
done
make_workdir
now_ms() { date +%s%3N; }
rss_mib() { awk -v f="$2" '$1 == f":" {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

root=$(random_root_key)
launch_tollgate store
api=$(call "$port_store" apis.createApi '{"name":"million"}' | sed -n 's/.*"apiId":"\([^"]*\)".*/\1/p')
template=$(call "$port_store" keys.createKey \
  "{\"apiId\":\"$api\",\"ratelimits\":[{\"name\":\"bench\",\"limit\":1000000000,\"duration\":1000,\"autoApply\":true}]}" |
  sed -n 's/.*"keyId":"\([^"]*\)".*/\1/p')
stop_process "$pid_store"

echo "== filling an SQLite store with $count keys"
started=$(now_ms)
node "$bench/key_rows.mjs" "$count" "$dir/rows.csv" "$dir/sample.txt" "$sample_every"
generated=$(now_ms)
# Every column of keys from the template row, except the four that differ per key.
columns=$(sqlite3 "$dir/store.db" "SELECT group_concat(name, ', ') FROM pragma_table_info('keys')")
select=$(sqlite3 "$dir/store.db" "SELECT group_concat(CASE name
    WHEN 'id' THEN 'g.id' WHEN 'hash' THEN 'g.hash' WHEN 'start' THEN 'g.start'
    WHEN 'ratelimits' THEN 'replace(t.ratelimits, json_extract(t.ratelimits, ''\$[0].id''), ''rl_m'' || g.n)'
    ELSE 't.' || name END, ', ') FROM pragma_table_info('keys')")
sqlite3 "$dir/store.db" <<SQL
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
PRAGMA temp_store = MEMORY;
CREATE TEMP TABLE g (id TEXT, hash TEXT, start TEXT, n INTEGER);
.import --csv $dir/rows.csv g
BEGIN;
INSERT INTO keys ($columns) SELECT $select FROM g, keys AS t WHERE t.id = '$template' ORDER BY g.n;
COMMIT;
SQL
filled=$(now_ms)
rm -f "$dir/rows.csv"
stored=$(sqlite3 "$dir/store.db" "SELECT count(*) FROM keys WHERE deleted_at IS NULL")
printf '%s keys in the store (%.0f MiB): generated in %.1f s, inserted in %.1f s\n' "$stored" \
  "$(du -m "$dir/store.db" | cut -f1)" "$(( generated - started ))e-3" "$(( filled - generated ))e-3"

echo "== tollgate on that store"
started=$(now_ms)
ready_seconds=60 launch_tollgate store
ready=$(( $(now_ms) - started ))
pid=$pid_store
cached=$(curl -sf "http://127.0.0.1:$port_store/metrics" | awk '$1 == "tollgate_keys_cached" {printf "%d", $2}')
rss_ready=$(rss_mib "$pid" VmRSS)

# A spread of the sample verifies VALID one by one; then wrk verifies every sample key in turn.
sample_count=$(wc -l <"$dir/sample.txt")
for line in 1 $((sample_count / 2)) "$sample_count"; do
  secret=$(sed -n "${line}p" "$dir/sample.txt")
  answer=$(call "$port_store" keys.verifyKey "{\"key\":\"$secret\"}")
  [[ $answer == *'"code":"VALID"'* ]] || { echo "million_keys.sh: sample key $line: $answer" >&2; exit 1; }
done
write_round_robin_lua "$dir/sample.lua" "$dir/sample.txt" verify "$root"
read -r rps _ p99 _ <<<"$(wrk_stats "$dir/sample.lua" "http://127.0.0.1:$port_store/v2/keys.verifyKey" 32 2)"
valid=$(curl -sf "http://127.0.0.1:$port_store/metrics" |
  awk '/^tollgate_verifications_total\{code="VALID"/ {s += $2} END {printf "%d", s}')
rss_verified=$(rss_mib "$pid" VmRSS)
peak=$(rss_mib "$pid" VmHWM)

printf 'keys cached: %s\n' "$cached"
printf 'ready (spawn to /readyz 200): %d ms (target <= 5000 ms: %s)\n' "$ready" "$([ "$ready" -le 5000 ] && echo met || echo 'not met')"
printf 'RSS when ready: %s MiB\n' "$rss_ready"
printf 'RSS after %s VALID verifications of %s sample keys (wrk 2 s, 32 connections: %.0f req/s, p99 %s µs): %s MiB (target <= 1024 MiB: %s)\n' \
  "$valid" "$sample_count" "$rps" "$p99" "$rss_verified" "$([ "$rss_verified" -le 1024 ] && echo met || echo 'not met')"
printf 'peak RSS (VmHWM, loading the keys at start included): %s MiB\n' "$peak"
