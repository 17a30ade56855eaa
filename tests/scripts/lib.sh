# Shared by the test server scripts (sourced).

# stop_pidfile <file>: SIGTERM the process the pid file names, wait up to 5 s for it to go, then
# SIGKILL it; nothing when the file is missing.
stop_pidfile() {
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}
