// How a receiver knows a delivery comes from tollgate and is fresh (Stripe's scheme): every
// request carries
//   Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// keyed with the webhook's whole secret ("whsec_…" included). The receiver recomputes the HMAC
// over the raw body, compares in constant time, and refuses a t too far from its clock (replays).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tollgate {

inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";

// "whsec_" and the base58 of 24 CSPRNG bytes.
std::string NewWebhookSecret();

// The Tollgate-Signature header value of `body` sent at `unix_seconds`.
std::string WebhookSignature(std::string_view secret, std::int64_t unix_seconds, std::string_view body);

}  // namespace tollgate
