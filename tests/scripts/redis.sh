#!/usr/bin/env bash
# Starts or stops throw-away redis-server shards for tests: each listens on 127.0.0.1:<port>
# only, keeps nothing on disk (no RDB, no AOF), and lives in <dir>/<port>.
#
#   redis.sh start <dir> <port> [<port> ...]   starts one server per port, waits until each answers
#   redis.sh stop <dir> [<port> ...]           stops the given ports (all under <dir> if none) and,
#                                              when none are left, removes <dir>
#   redis.sh kill <dir> <port>                 SIGKILLs one shard (a crash, for failure tests)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command=${1:?usage: redis.sh start|stop|kill <dir> [port ...]}
dir=${2:?usage: redis.sh start|stop|kill <dir> [port ...]}
shift 2

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis.sh: redis-server not found; install redis-server (make deps)" >&2
  exit 1
fi

start_one() {
  local port=$1 home="$dir/$1"
  if [ -f "$home/redis.pid" ]; then kill "$(cat "$home/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$home"
  mkdir -p "$home"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$home" --save '' --appendonly no \
    --daemonize yes --pidfile "$home/redis.pid" --logfile "$home/redis.log" --protected-mode no
  for _ in $(seq 1 100); do
    if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "redis.sh: redis-server on port $port did not answer" >&2
  cat "$home/redis.log" >&2 || true
  exit 1
}

stop_one() {
  stop_pidfile "$dir/$1/redis.pid"
  rm -rf "${dir:?}/$1"
}

case "$command" in
  start)
    [ $# -gt 0 ] || { echo "usage: redis.sh start <dir> <port> [<port> ...]" >&2; exit 2; }
    for port in "$@"; do start_one "$port"; done
    echo "redis.sh: redis-server on 127.0.0.1:$* (in $dir)"
    ;;
  stop)
    if [ $# -eq 0 ] && [ -d "$dir" ]; then set -- $(ls "$dir"); fi
    for port in "$@"; do stop_one "$port"; done
    if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then rmdir "$dir"; fi
    ;;
  kill)
    port=${1:?usage: redis.sh kill <dir> <port>}
    if [ -f "$dir/$port/redis.pid" ]; then kill -9 "$(cat "$dir/$port/redis.pid")" 2>/dev/null || true; fi
    rm -f "$dir/$port/redis.pid"
    ;;
  *)
    echo "redis.sh: unknown command '$command' (start, stop or kill)" >&2
    exit 2
    ;;
esac
