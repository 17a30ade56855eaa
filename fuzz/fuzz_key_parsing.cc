// What reads keys and root keys presented by a caller, and the formats keys are made of. The
// first byte of an input picks the function, the rest is its argument:
//   0  Base58Decode: accepted text re-encodes to itself, and decodes to no more bytes than chars
//   1  Base58Encode: the text is in the alphabet and decodes back to the bytes
//   2  BearerToken: the token is what follows "Bearer " (any case), without surrounding spaces
//   3  ValidatePrefix and GenerateKeySecret: accepted prefixes are 0..16 letters and digits, and a
//      generated secret is "<prefix>_<base58 of byteLength bytes>" whose hash and start match it;
//      a refusal's message is printable (it goes into an answer)
//   4  IsValidScope and ScopeMatches ("<granted>\n<required>") against a plain reading of the
//      scope rules in auth/scope.h
//   5  root key and API key lookup (RootKeyService::Authenticate, KeyService::FindForVerify,
//      KeyService::Whoami): only the exact secrets find anything
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/root_key_service.h"
#include "auth/scope.h"
#include "common/base58.h"
#include "common/crypto.h"
#include "http/router.h"
#include "keys/key_secret.h"
#include "keys/key_service.h"
#include "storage/sqlite/sqlite_store.h"

namespace {

using namespace tollgate;

[[noreturn]] void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "\n==== fuzz check failed: %s\ninput (%zu bytes): %.*s\n", what, input.size(),
               static_cast<int>(input.size()), input.data());
  std::abort();
}

bool IsPrintableAscii(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  }
  return true;
}

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (std::size_t at = text.find(separator); at != std::string_view::npos; at = text.find(separator)) {
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  parts.push_back(text);
  return parts;
}

// A root key, an API key and the services that look them up, over an in-memory store.
struct Keys {
  static constexpr std::string_view kRootKey = "tg_root_fuzzFuzzFuzz0123456789";
  ManualClock clock{1'770'000'000'000};
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<RootKeyService> root_keys;
  std::unique_ptr<KeyService> keys;
  std::string api_key;

  Keys() {
    auto opened = SqliteStore::Open(kSqliteInMemoryPath);
    if (!opened) Fail("open the store", opened.error().detail);
    store = std::move(*opened);
    root_keys = std::move(*RootKeyService::Create(*store, clock));
    if (!root_keys->Bootstrap(std::string(kRootKey))) Fail("bootstrap", "");
    keys = std::move(*KeyService::Create(*store, clock));
    auto api = keys->CreateApi("fuzz");
    if (!api) Fail("create an API", api.error().detail);
    auto key = keys->CreateKey({.api_id = api->id, .prefix = "fz"});
    if (!key) Fail("create a key", key.error().detail);
    api_key = key->secret;
  }
};
Keys* keys = nullptr;

void FuzzBase58Decode(std::string_view text) {
  auto bytes = Base58Decode(text);
  if (!bytes) return;
  if (bytes->size() > text.size()) Fail("base58: more bytes than characters", text);
  if (Base58Encode(*bytes) != text) Fail("base58: decoded text does not encode back", text);
}

void FuzzBase58Encode(std::string_view input) {
  const std::vector<std::uint8_t> bytes(input.begin(), input.end());
  const std::string text = Base58Encode(bytes);
  for (const char c : text) {
    if (!IsAlnum(c) || c == '0' || c == 'O' || c == 'I' || c == 'l') Fail("base58: character outside the alphabet", input);
  }
  if (Base58Decode(text) != bytes) Fail("base58: does not decode back", input);
}

void FuzzBearerToken(std::string_view header) {
  const std::string_view token = BearerToken(header);
  if (token.empty()) return;
  std::string scheme(header.substr(0, 7));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") Fail("bearer: token without the scheme", header);
  if (token.front() == ' ' || token.back() == ' ') Fail("bearer: token with spaces around it", header);
  if (header.find(token, 7) == std::string_view::npos) Fail("bearer: token not from the header", header);
}

void FuzzKeySecret(std::string_view input) {
  const int byte_length = input.empty() ? 16 : static_cast<int>(static_cast<unsigned char>(input[0])) + 1;
  const std::string_view prefix = input.empty() ? input : input.substr(1);
  bool valid_prefix = prefix.size() <= kMaxKeyPrefixLength;
  for (const char c : prefix) valid_prefix = valid_prefix && IsAlnum(c);
  const Status checked = ValidatePrefix(prefix);
  if (static_cast<bool>(checked) != valid_prefix) Fail("prefix: verdict differs from the rule", input);
  if (!checked && !IsPrintableAscii(checked.error().fields.at(0).message)) Fail("prefix: message not printable", input);

  auto generated = GenerateKeySecret(prefix, byte_length);
  const bool valid = valid_prefix && byte_length >= kMinKeyByteLength && byte_length <= kMaxKeyByteLength;
  if (static_cast<bool>(generated) != valid) Fail("secret: verdict differs from the rule", input);
  if (!generated) {
    for (const FieldError& field : generated.error().fields) {
      if (!IsPrintableAscii(field.message)) Fail("secret: message not printable", input);
    }
    return;
  }
  const std::string head = prefix.empty() ? std::string() : std::string(prefix) + "_";
  if (!generated->secret.starts_with(head)) Fail("secret: does not start with the prefix", input);
  const auto random = Base58Decode(std::string_view(generated->secret).substr(head.size()));
  if (!random || random->size() != static_cast<std::size_t>(byte_length)) Fail("secret: random part", input);
  if (generated->hash != Sha256Hex(generated->secret)) Fail("secret: hash", input);
  if (!generated->secret.starts_with(generated->start) || generated->start.size() != head.size() + kKeyStartLength) {
    Fail("secret: start", input);
  }
}

// auth/scope.h, read plainly: "*" is everything; otherwise the same number of segments, each
// granted one "*" or equal.
bool ScopeMatchesReference(std::string_view granted, std::string_view required) {
  if (granted == "*") return true;
  const auto g = Split(granted, '.');
  const auto r = Split(required, '.');
  if (g.size() != r.size()) return false;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (g[i] != "*" && g[i] != r[i]) return false;
  }
  return true;
}

void FuzzScopes(std::string_view input) {
  const std::size_t newline = input.find('\n');
  const std::string_view granted = input.substr(0, newline);
  const std::string_view required = newline == std::string_view::npos ? input : input.substr(newline + 1);
  if (ScopeMatches(granted, required) != ScopeMatchesReference(granted, required)) Fail("scope: match", input);
  if (IsValidScope(granted)) {
    if (!ScopeMatches(granted, granted)) Fail("scope: a valid scope does not match itself", input);
    if (granted != "*" && Split(granted, '.').size() != 3) Fail("scope: valid with other than 3 segments", input);
  }
}

void FuzzLookup(std::string_view secret) {
  const bool root = secret == Keys::kRootKey;
  if ((keys->root_keys->Authenticate(secret) != nullptr) != root) Fail("root key: lookup", secret);
  const bool api = secret == keys->api_key;
  if ((keys->keys->FindForVerify(secret) != nullptr) != api) Fail("API key: lookup", secret);
  auto whoami = keys->keys->Whoami(secret);
  if (static_cast<bool>(whoami) != api) Fail("API key: whoami", secret);
  if (!whoami && whoami.error().code != ErrorCode::kNotFound && whoami.error().code != ErrorCode::kInvalidInput) {
    Fail("API key: whoami error", secret);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  keys = new Keys();  // lives until exit
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: FuzzBase58Decode(input); break;
    case 1: FuzzBase58Encode(input); break;
    case 2: FuzzBearerToken(input); break;
    case 3: FuzzKeySecret(input); break;
    case 4: FuzzScopes(input); break;
    case 5: FuzzLookup(input); break;
  }
  return 0;
}
