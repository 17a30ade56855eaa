#!/usr/bin/env bash
# Starts or stops a throw-away PostgreSQL 15 server for tests: a fresh cluster in <dir>, listening
# on 127.0.0.1:<port> only, trusting local connections (user postgres, no password).
#
#   postgres.sh start <dir> <port>   wipes <dir>, initdb, starts, waits until it answers
#   postgres.sh stop <dir>           stops it (fast shutdown) and removes <dir>
#
# PostgreSQL refuses to run as root, so as root the server runs as the postgres user (the
# Debian package creates it); as any other user it runs as that user.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ]; then
  echo "postgres.sh: PostgreSQL server binaries not found; install postgresql (make deps)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

command=${1:?usage: postgres.sh start|stop <dir> [port]}
dir=${2:?usage: postgres.sh start|stop <dir> [port]}

case "$command" in
  start)
    port=${3:?usage: postgres.sh start <dir> <port>}
    if [ -f "$dir/data/postmaster.pid" ]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    # fsync off: a test cluster is thrown away, and fsync is most of a commit's cost on this disk.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c max_connections=200" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres.sh: PostgreSQL on 127.0.0.1:$port (data in $dir/data)"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; fi
    rm -rf "$dir"
    ;;
  *)
    echo "postgres.sh: unknown command '$command' (start or stop)" >&2
    exit 2
    ;;
esac
