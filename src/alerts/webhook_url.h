// A webhook's URL, checked when the webhook is created and split for the sender. Only absolute
// http:// and https:// URLs with a host; no user info (credentials would be stored and listed in
// plain text: authenticate receivers by the signature instead), no fragment, no spaces or control
// characters, at most 2048 characters.
//
// Destinations: unless tollgate runs with --webhook-allow-private-addresses, webhooks go only to
// public addresses, so that whoever may create a webhook cannot make tollgate POST to services
// reachable only from its own network (server-side request forgery: a cloud's metadata service
// at 169.254.169.254, an admin port on 127.0.0.1, a database on 10.x). The sender checks the
// addresses it resolved and connects to those same addresses (webhook_sender.h); a URL whose host
// is such an address written out (or "localhost") is refused already when the webhook is created.
#pragma once

#include <span>
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

// What kind of address webhooks do not go to by default: "loopback", "private" (RFC 1918, shared
// 100.64/10, IPv6 unique and site local), "link-local", "unspecified", "multicast" or "reserved";
// "" for a public address. IPv4 addresses inside IPv6 (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::)
// are judged by their IPv4 part. `address` holds 4 (IPv4) or 16 (IPv6) bytes in network order;
// any other size is "reserved".
std::string_view NonPublicAddressKind(std::span<const unsigned char> address);
// The same for a URL's host: an IPv4 or IPv6 address as text (an IPv6 zone "%eth0" is ignored),
// or "localhost" / "*.localhost" (always loopback); "" for a public address or any other name
// (a name is judged once it is resolved).
std::string_view NonPublicHostKind(std::string_view host);

}  // namespace tollgate
