#!/usr/bin/env bash
# Starts, stops or restarts a throw-away RabbitMQ broker for tests: its own node name, data, logs
# and Erlang cookie in <dir>, AMQP on 127.0.0.1:<port> only, user guest/guest (RabbitMQ lets
# guest in from loopback), no plugins.
#
#   rabbitmq.sh start <dir> <port>   wipes <dir>, starts, waits until AMQP answers
#   rabbitmq.sh stop <dir>           stops it (the data stays until the next start or wipe)
#   rabbitmq.sh wipe <dir>           stops it and removes <dir>
#   rabbitmq.sh restart <dir>        stops and starts it again on its port, keeping its data
#
# The node's distribution port is <port> + 1 and its own epmd listens on <port> + 2, so brokers of
# several test runs never meet. Runs as the invoking user (root is fine).
set -euo pipefail

server=/usr/lib/rabbitmq/bin/rabbitmq-server
ctl=/usr/lib/rabbitmq/bin/rabbitmqctl
if [ ! -x "$server" ]; then
  echo "rabbitmq.sh: $server not found; install rabbitmq-server (make deps)" >&2
  exit 1
fi

command=${1:?usage: rabbitmq.sh start|stop|wipe|restart <dir> [port]}
dir=${2:?usage: rabbitmq.sh start|stop|wipe|restart <dir> [port]}

environment() {
  local port=$1
  export HOME="$dir/home"
  export RABBITMQ_NODENAME="tollgate$port@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$port
  export RABBITMQ_DIST_PORT=$((port + 1))
  export ERL_EPMD_PORT=$((port + 2))
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/rabbit.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"  # rabbitmq.conf
  export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
}

launch() {
  local port=$1
  environment "$port"
  "$server" >"$dir/log/stdout.log" 2>&1 &
  # Wait until the broker is booted and accepts AMQP.
  local pid=$!
  for _ in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "rabbitmq.sh: RabbitMQ on 127.0.0.1:$port (data in $dir)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  echo "rabbitmq.sh: RabbitMQ did not start on port $port; its log:" >&2
  tail -n 40 "$dir/log/stdout.log" >&2 || true
  return 1
}

halt() {
  [ -f "$dir/port" ] || return 0
  environment "$(cat "$dir/port")"
  "$ctl" -q shutdown >/dev/null 2>&1 || true
  pkill -f "$RABBITMQ_NODENAME" >/dev/null 2>&1 || true
  # And the node's epmd, which would otherwise outlive the test. It runs as `epmd -daemon` (the
  # port is in its environment, not its command line), so ask the one on ERL_EPMD_PORT to exit.
  epmd -kill >/dev/null 2>&1 || true
}

case "$command" in
  start)
    port=${3:?usage: rabbitmq.sh start <dir> <port>}
    halt
    rm -rf "$dir"
    mkdir -p "$dir/home" "$dir/log" "$dir/mnesia"
    echo "[]." >"$dir/enabled_plugins"
    echo "[]." >"$dir/advanced.config"
    : >"$dir/rabbitmq-env.conf"
    printf 'listeners.tcp.default = %s\nloopback_users.guest = true\n' "$port" >"$dir/rabbitmq.conf"
    echo "tollgatetestcookie$port" >"$dir/home/.erlang.cookie"
    chmod 400 "$dir/home/.erlang.cookie"
    echo "$port" >"$dir/port"
    launch "$port"
    ;;
  stop) halt ;;
  wipe) halt; rm -rf "$dir" ;;
  restart)
    halt
    launch "$(cat "$dir/port")"
    ;;
  *)
    echo "rabbitmq.sh: unknown command '$command' (start, stop, wipe or restart)" >&2
    exit 2
    ;;
esac
