#include "alerts/webhook_url.h"

#include <arpa/inet.h>

#include <array>

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

// IPv4, a.b.c.d in `b`.
std::string_view NonPublicV4Kind(std::span<const unsigned char, 4> b) {
  if (b[0] == 0) return "unspecified";  // 0.0.0.0/8: "this network"
  if (b[0] == 127) return "loopback";
  if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168)) return "private";
  if (b[0] == 100 && (b[1] & 0xc0) == 64) return "private";  // 100.64/10, carrier-grade NAT
  if (b[0] == 169 && b[1] == 254) return "link-local";     // holds the clouds' metadata services
  if (b[0] >= 224 && b[0] < 240) return "multicast";
  if (b[0] >= 240) return "reserved";  // and the broadcast address
  return "";
}

}  // namespace

std::string_view NonPublicAddressKind(std::span<const unsigned char> address) {
  if (address.size() == 4) return NonPublicV4Kind(address.first<4>());
  if (address.size() != 16) return "reserved";
  const auto zeros = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      if (address[i] != 0) return false;
    }
    return true;
  };
  const auto embedded_v4 = address.subspan<12, 4>();
  if (zeros(0, 10) && address[10] == 0xff && address[11] == 0xff) return NonPublicV4Kind(embedded_v4);  // mapped
  if (address[0] == 0x00 && address[1] == 0x64 && address[2] == 0xff && address[3] == 0x9b && zeros(4, 12)) {
    return NonPublicV4Kind(embedded_v4);  // NAT64's well-known prefix
  }
  if (zeros(0, 15)) return address[15] == 0 ? "unspecified" : address[15] == 1 ? "loopback" : "reserved";
  if (zeros(0, 12)) return "reserved";  // IPv4-compatible, deprecated
  if (address[0] == 0xfe && (address[1] & 0xc0) == 0x80) return "link-local";
  if (address[0] == 0xfe && (address[1] & 0xc0) == 0xc0) return "private";  // site local, deprecated
  if ((address[0] & 0xfe) == 0xfc) return "private";                         // unique local fc00::/7
  if (address[0] == 0xff) return "multicast";
  return "";
}

std::string_view NonPublicHostKind(std::string_view host) {
  std::string name(host.ends_with('.') ? host.substr(0, host.size() - 1) : host);  // "localhost." too
  for (char& c : name) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  if (name == "localhost" || name.ends_with(".localhost")) return "loopback";
  const std::string text(host.substr(0, host.find('%')));
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) return NonPublicAddressKind(std::span(bytes).first(4));
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) return NonPublicAddressKind(bytes);
  return "";
}

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
