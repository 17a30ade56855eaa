// Sends one webhook request and says how it went. HttpWebhookSender is the real one: a
// synchronous HTTP/1.1 POST over Boost.Beast, one connection per request, TLS for https:// with
// the system's CA certificates and host name verification, a timeout per phase (name lookup,
// connect, then TLS handshake + write + read). Redirects are not followed (a 3xx is a failed
// attempt), as Stripe does: a receiver that moved gets its webhook's URL updated. Tests inject
// their own sender.
//
// Destinations (webhook_url.h): the host is looked up once, the addresses that may not be
// reached (loopback, private, link-local, ... unless allow_private_addresses) are dropped, and
// the connection goes to one of the addresses that were checked: no second lookup, so a name
// that answers a public address to the check and a private one to the connection (DNS
// rebinding) gets nowhere.
//
// Name lookup: getaddrinfo cannot be cancelled and may block for tens of seconds on a resolver
// that does not answer. It runs on a thread of its own, and Post waits for it at most `timeout`
// (or until Cancel); a lookup still running then finishes alone, its answer discarded. Asio's
// async_resolve would not do: its hidden thread is joined when the io_context is destroyed,
// which waits for getaddrinfo whatever the deadline.
//
// Threads: Post blocks its caller (the dispatcher thread); Cancel may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "alerts/webhook_url.h"
#include "common/result.h"

namespace boost::asio {
class io_context;
}

namespace tollgate {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SendResult {
  std::optional<int> status;  // the HTTP status, when an answer came
  std::string error;          // why it did not succeed; "" on a 2xx
  bool cancelled = false;     // cut off by Cancel() before the receiver answered: not an attempt
  bool ok() const { return status && *status >= 200 && *status < 300; }
};

class WebhookSender {
 public:
  virtual ~WebhookSender() = default;
  virtual SendResult Post(const WebhookUrl& url, const HeaderList& headers, const std::string& body) = 0;
  // Makes the Post under way, and every later one, return at once with `cancelled` (shutdown),
  // unless the receiver had already answered: that outcome stands.
  virtual void Cancel() = 0;
};

// A host name's addresses as text (IPv4 dotted, IPv6 with an optional "%<zone>"); blocking.
using NameLookup = std::function<Result<std::vector<std::string>>(const std::string& host)>;
// The system's resolver: getaddrinfo.
Result<std::vector<std::string>> SystemNameLookup(const std::string& host);

struct WebhookSenderOptions {
  // Per phase: name lookup, connect, then TLS handshake + request + answer. A Post takes at most
  // about three of these (WebhookDispatcherOptions::attempt_budget must cover that).
  std::chrono::milliseconds timeout{5'000};
  bool allow_private_addresses = false;  // --webhook-allow-private-addresses
  NameLookup lookup = SystemNameLookup;  // run on a thread of its own: keep it self-contained
};

class HttpWebhookSender final : public WebhookSender {
 public:
  explicit HttpWebhookSender(WebhookSenderOptions options = {}) : options_(std::move(options)) {}

  SendResult Post(const WebhookUrl& url, const HeaderList& headers, const std::string& body) override;
  void Cancel() override;

 private:
  struct PendingLookup;  // a lookup under way, shared with its thread (webhook_sender.cc)

  // The addresses of url.host (itself when it is an address), or why there are none (a failed or
  // late lookup); nullopt when cancelled meanwhile.
  std::optional<Result<std::vector<std::string>>> LookUp(const WebhookUrl& url);

  const WebhookSenderOptions options_;
  std::mutex mu_;
  bool cancelled_ = false;                          // guarded by mu_
  boost::asio::io_context* running_ = nullptr;      // the Post under way; guarded by mu_
  std::shared_ptr<PendingLookup> looking_up_;       // the lookup it waits for; guarded by mu_
};

}  // namespace tollgate
