# Shared by the HTTP benchmarks (sourced).

# write_verify_lua <file> <key> <root key>: a wrk script that posts keys.verifyKey for <key>.
write_verify_lua() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = '{"key":"$2"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $3"
LUA
}
