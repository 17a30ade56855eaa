#!/usr/bin/env bash
# Starts or stops a throw-away Prometheus server for tests: it listens on 127.0.0.1:<port> only,
# scrapes the given targets (host:port, GET /metrics) as job "tollgate" every second, evaluates
# the given rule file (if any) every second, and keeps its configuration, TSDB and log in <dir>.
#
#   prometheus.sh start <dir> <port> [--rules <file>] <target> [<target> ...]
#                                   starts it, waits until /-/ready answers
#   prometheus.sh stop <dir>        stops it and removes <dir>
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage="usage: prometheus.sh start <dir> <port> [--rules <file>] <target> [...] | stop <dir>"
command=${1:?$usage}
dir=${2:?$usage}
shift 2

if ! command -v prometheus >/dev/null 2>&1; then
  echo "prometheus.sh: prometheus not found; install the Debian package prometheus (make deps)" >&2
  exit 1
fi

stop() {
  stop_pidfile "$dir/prometheus.pid"
  rm -rf "$dir"
}

# prometheus.yml for the targets; rule_files only with --rules.
write_config() {
  local rules=$1
  shift
  {
    echo "global:"
    echo "  scrape_interval: 1s"
    echo "  scrape_timeout: 1s"
    echo "  evaluation_interval: 1s"
    if [ -n "$rules" ]; then
      echo "rule_files:"
      echo "  - '$rules'"
    fi
    echo "scrape_configs:"
    echo "  - job_name: tollgate"
    echo "    static_configs:"
    echo "      - targets:"
    for target in "$@"; do echo "          - '$target'"; done
  } > "$dir/prometheus.yml"
}

start() {
  local port=${1:?$usage}
  shift
  local rules=""
  if [ "${1:-}" = "--rules" ]; then
    rules=$(realpath "${2:?$usage}")
    shift 2
  fi
  [ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
  stop
  mkdir -p "$dir/data"
  write_config "$rules" "$@"
  # setsid: its own session, so that a test runner's signals to the group reach only what it means.
  setsid prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 </dev/null &
  echo $! > "$dir/prometheus.pid"
  for _ in $(seq 1 200); do
    if curl -fs "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
      echo "prometheus.sh: prometheus on 127.0.0.1:$port scraping $* (in $dir)"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/prometheus.pid")" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "prometheus.sh: prometheus on port $port did not become ready" >&2
  cat "$dir/prometheus.log" >&2 || true
  stop
  exit 1
}

case "$command" in
  start) start "$@" ;;
  stop) stop ;;
  *)
    echo "prometheus.sh: unknown command '$command' (start or stop)" >&2
    exit 2
    ;;
esac
