#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking tollgate needs, and the
# npm packages of the integration tests. Idempotent: skips what is already present.
# `scripts/deps.sh fuzz` also installs clang for the libFuzzer targets (`make fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  cmake ninja-build g++ make pkg-config
  libboost-dev libssl-dev libsqlite3-dev nlohmann-json3-dev rapidjson-dev libspdlog-dev libfmt-dev
  libcli11-dev libyaml-cpp-dev libexpected-dev libpq-dev librabbitmq-dev libhiredis-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev sqlite3 curl openssl wrk nginx libfaketime prometheus
  # integration tests against the production backends (started by the tests, as their own processes)
  postgresql rabbitmq-server redis-server
  # the web dashboard's browser test (driven by playwright-core, which downloads no browser)
  chromium
)
# the fuzz targets (fuzz/, `make fuzz`): clang with libFuzzer and its sanitizer runtimes
[ "${1:-}" = fuzz ] && packages+=(clang libclang-rt-14-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs the SDK and integration tests. Any Node >= 18 will do; only install Debian's if
# there is none, so a machine's newer Node is left alone.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages of the integration tests, the benchmark's Node.js peer and the web dashboard's build
# (Vite, TypeScript, Preact, uPlot), each reinstalled only when its lock file changed.
for folder in tests/integration bench/node-peer dashboard; do
  [ -f "$folder/package-lock.json" ] || continue
  stamp=$folder/node_modules/.tollgate-lock
  if [ ! -f "$stamp" ] || ! cmp -s "$folder/package-lock.json" "$stamp"; then
    echo "deps: npm ci in $folder"
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$folder/package-lock.json" "$stamp"
  fi
done
echo "deps: ok"
