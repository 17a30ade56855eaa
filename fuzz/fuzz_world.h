// One tollgate for the fuzz targets, put together the way `tollgate serve` does it
// (src/app/serve.cc): every route on the real Router, over an in-memory SQLite store, the
// in-process limiter and the usage recorder, with a known root key and a few things for inputs to
// point at (an API, a key of it with permissions, credits and rate limits, its identity).
//
// Built once per process (LLVMFuzzerInitialize) and kept: one input's writes are there for the
// next ones, as in a server. The clock is a ManualClock that moves one second per request, so
// windows, refills and expiries come and go without sleeping; the work serve's background
// threads do (usage flush, quota counters, credit balances) is done after every request, on the
// fuzzing thread.
//
// The log goes, as JSON lines at trace level, into a buffer that the checks read: so every log
// line is formatted (JsonLogFormatter is fuzzed too) and none may carry a secret.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "http/message.h"

namespace tollgate::fuzz {

// A request in the text form the corpus files use, close to HTTP without its framing:
//
//   POST /v2/keys.verifyKey          <- method and target (path, optionally ?query)
//   X-API-Key: $KEY                  <- optional headers, up to an empty line
//
//   {"key":"$KEY"}                   <- the body: everything after the empty line
//
// Authorization defaults to "Bearer <root key>" and Content-Type to application/json; give the
// header with an empty value to send none. Placeholders are replaced first (FuzzWorld::Expand).
HttpRequest ParseTextRequest(std::string_view text);

class FuzzWorld {
 public:
  // Every permission: what Bootstrap gives a root key from TOLLGATE_ROOT_KEY.
  static constexpr std::string_view kRootKey = "tg_root_fuzzFuzzFuzz0123456789";

  // Built on first use, never destroyed (threads of its own run until exit).
  static FuzzWorld& Get();

  // $ROOT_KEY, $KEY, $KEY_ID, $API_ID and $IDENTITY become the fixture's values.
  std::string Expand(std::string_view text) const;

  // Router::Handle, then what serve's background threads would do, then the clock moves on. A
  // deferred answer (there should be none with the in-process limiter) is waited for here.
  HttpResponse Handle(const HttpRequest& request);

  // The Router alone, for a server of the fuzz target's own (fuzz_http_wire), and AfterRequest
  // for the work to do once its answer is in.
  HttpResponse Route(const HttpRequest& request) const;
  void AfterRequest();

  // The plaintext API key of the fixture (shown once by keys.createKey).
  const std::string& api_key() const;

  // What was logged since the last call.
  std::string TakeLog();

  // The checks every answer must pass, whatever the request: a status below 500, a JSON body
  // that parses when the content type says JSON (an error envelope whose status matches), a
  // stream that ends, and CheckSecrets. Takes the log since the last call.
  void Check(const HttpRequest& request, const HttpResponse& response);
  // No secret the inputs were not given (the root key, unless an input typed it; a second key of
  // the fixture) in `answer` or in `log`, and the fixture's key in the log only when `request_line`
  // (path and query, which the server logs at debug level) carried it. `typed` is everything the
  // request carried.
  void CheckSecrets(std::string_view typed, std::string_view request_line, std::string_view answer,
                    std::string_view log, std::string_view where);

  ~FuzzWorld();

 private:
  FuzzWorld();
  struct State;
  std::unique_ptr<State> state_;
};

// Aborts with `what` and `detail` on stderr.
[[noreturn]] void Fail(std::string_view what, std::string_view detail);

}  // namespace tollgate::fuzz
