// A webhook's URL, checked when the webhook is created and split for the sender. Only absolute
// http:// and https:// URLs with a host; no user info (credentials would be stored and listed in
// plain text: authenticate receivers by the signature instead), no fragment, no spaces or control
// characters, at most 2048 characters.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace tollgate {

struct WebhookUrl {
  bool tls = false;     // https
  std::string host;     // a name or an IP address; IPv6 without brackets
  std::string port;     // "80" / "443" when the URL names none
  std::string target;   // path and query, "/" at least
};

// InvalidInput with a message naming what is wrong (for body.url).
Result<WebhookUrl> ParseWebhookUrl(std::string_view url);

}  // namespace tollgate
