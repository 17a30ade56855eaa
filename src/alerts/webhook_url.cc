#include "alerts/webhook_url.h"

#include "common/text.h"

namespace tollgate {
namespace {

constexpr std::size_t kMaxUrlLength = 2048;

Error Bad(std::string why) { return Error::InvalidInput(std::move(why)); }

// Splits "host[:port]" or "[v6][:port]" into `url`; an error message, or "" when fine.
std::string SplitAuthority(std::string_view authority, WebhookUrl& url) {
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return "has an unclosed '[' in its host";
    url.host = std::string(authority.substr(1, close - 1));
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return "needs ':' and a port after the IPv6 address";
    if (!rest.empty()) port = rest.substr(1);
    if (rest == ":") return "has an empty port";
  } else {
    const auto colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return "has an empty port";
    }
  }
  if (url.host.empty()) return "names no host";
  if (!port.empty() && !IsValidPort(port)) return "has a port that is not a number from 1 to 65535";
  if (!port.empty()) url.port = std::string(port);
  return "";
}

}  // namespace

Result<WebhookUrl> ParseWebhookUrl(std::string_view url) {
  if (url.size() > kMaxUrlLength) return Fail(Bad("must be at most " + std::to_string(kMaxUrlLength) + " characters"));
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Fail(Bad("must not contain spaces or control characters (percent-encode them)"));
    }
  }
  WebhookUrl parsed;
  std::string_view rest;
  if (StartsWithNoCase(url, "https://")) {
    parsed.tls = true;
    parsed.port = "443";
    rest = url.substr(8);
  } else if (StartsWithNoCase(url, "http://")) {
    parsed.port = "80";
    rest = url.substr(7);
  } else {
    return Fail(Bad("must be an http:// or https:// URL, e.g. https://example.com/tollgate/webhooks"));
  }
  if (rest.find('#') != std::string_view::npos) return Fail(Bad("must not have a fragment (#…): it is never sent"));
  const auto path_at = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, path_at);
  if (authority.find('@') != std::string_view::npos) {
    return Fail(Bad("must not carry user info (user:password@): check the Tollgate-Signature header instead"));
  }
  if (std::string problem = SplitAuthority(authority, parsed); !problem.empty()) return Fail(Bad(std::move(problem)));
  parsed.target = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  if (parsed.target.starts_with('?')) parsed.target.insert(parsed.target.begin(), '/');
  return parsed;
}

}  // namespace tollgate
