// PermissionQuery::Parse, the `permissions` query of keys.verifyKey and keys.authorize. An input
// is the query text, then (after a NUL byte, if any) one byte per permission name of the query
// saying whether the key holds it. Checked:
// * a refusal is InvalidInput with one field error at body.permissions whose message is
//   printable ASCII (it goes into an answer whatever bytes the query had);
// * an accepted query's ToString() parses again to the same text, and both evaluate alike for
//   the held permissions, by Evaluate and by EvaluateAgainst (unless the canonical text is over
//   the length limit, which it may be: see ToString);
// * Evaluate asks only about names that are in the query.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "keys/permission_query.h"

namespace {

[[noreturn]] void Fail(const char* what, std::string_view query, std::string_view detail) {
  std::fprintf(stderr, "\n==== fuzz check failed: %s\nquery: %.*s\n%.*s\n", what, static_cast<int>(query.size()),
               query.data(), static_cast<int>(detail.size()), detail.data());
  std::abort();
}

bool IsPrintableAscii(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  }
  return true;
}

// The permission names of the query: its words other than AND and OR (any case).
std::vector<std::string> Names(std::string_view text) {
  auto is_name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '*' || c == '-' || c == '/';
  };
  std::set<std::string> names;
  for (std::size_t i = 0; i < text.size();) {
    if (!is_name_char(text[i])) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && is_name_char(text[end])) ++end;
    std::string word(text.substr(i, end - i));
    std::string upper = word;
    for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    if (upper != "AND" && upper != "OR") names.insert(std::move(word));
    i = end;
  }
  return {names.begin(), names.end()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  const std::string_view held_bits = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

  auto query = tollgate::PermissionQuery::Parse(text);
  if (!query) {
    const tollgate::Error& error = query.error();
    if (error.code != tollgate::ErrorCode::kInvalidInput || error.fields.size() != 1 ||
        error.fields[0].location != "body.permissions" || error.fields[0].message.empty()) {
      Fail("refusal shape", text, error.detail);
    }
    if (!IsPrintableAscii(error.detail) || !IsPrintableAscii(error.fields[0].message) ||
        !IsPrintableAscii(error.fields[0].fix)) {
      Fail("refusal not printable", text, error.detail);
    }
    return 0;
  }

  const std::string canonical = query->ToString();
  auto again = tollgate::PermissionQuery::Parse(canonical);
  if (canonical.size() > tollgate::kMaxPermissionQueryLength) {
    // Spaces around operators can take the canonical text past the limit (permission_query.h).
    if (again) Fail("canonical text over the limit parses", text, canonical);
    return 0;
  }
  if (!again) Fail("canonical text does not parse", text, canonical + "\n" + again.error().detail);
  if (again->ToString() != canonical) Fail("canonical text not stable", text, canonical + "\n" + again->ToString());

  const std::vector<std::string> names = Names(text);
  std::vector<std::string> held;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i < held_bits.size() ? (held_bits[i] & 1) != 0 : i % 2 == 0) held.push_back(names[i]);
  }
  auto ask = [&](std::string_view name) {
    bool known = false;
    for (const std::string& n : names) known = known || n == name;
    if (!known) Fail("asked about a name not in the query", text, name);
    for (const std::string& h : held) {
      if (h == name) return true;
    }
    return false;
  };
  const bool verdict = query->Evaluate(ask);
  if (query->EvaluateAgainst(held) != verdict) Fail("EvaluateAgainst differs from Evaluate", text, canonical);
  if (again->Evaluate(ask) != verdict) Fail("canonical query evaluates differently", text, canonical);
  return 0;
}
