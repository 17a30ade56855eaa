// Sends one webhook request and says how it went. HttpWebhookSender is the real one: a
// synchronous HTTP/1.1 POST over Boost.Beast, one connection per request, TLS for https:// with
// the system's CA certificates and host name verification, a timeout per phase (connect, then
// TLS handshake + write + read). Redirects are not followed (a 3xx is a failed attempt), as
// Stripe does: a receiver that moved gets its webhook's URL updated. Tests inject their own
// sender.
//
// Threads: Post blocks its caller (the dispatcher thread); Cancel may be called from any thread.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "alerts/webhook_url.h"

namespace boost::asio {
class io_context;
}

namespace tollgate {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SendResult {
  std::optional<int> status;  // the HTTP status, when an answer came
  std::string error;          // why it did not succeed; "" on a 2xx
  bool cancelled = false;     // cut off by Cancel(): not an attempt
  bool ok() const { return status && *status >= 200 && *status < 300; }
};

class WebhookSender {
 public:
  virtual ~WebhookSender() = default;
  virtual SendResult Post(const WebhookUrl& url, const HeaderList& headers, const std::string& body) = 0;
  // Makes the Post under way, and every later one, return at once with `cancelled` (shutdown).
  virtual void Cancel() = 0;
};

class HttpWebhookSender final : public WebhookSender {
 public:
  explicit HttpWebhookSender(std::chrono::milliseconds timeout = std::chrono::seconds(5)) : timeout_(timeout) {}

  SendResult Post(const WebhookUrl& url, const HeaderList& headers, const std::string& body) override;
  void Cancel() override;

 private:
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  bool cancelled_ = false;                    // guarded by mu_
  boost::asio::io_context* running_ = nullptr;  // the Post under way; guarded by mu_
};

}  // namespace tollgate
