#include "ratelimit/model.h"

#include <array>

namespace tollgate {
namespace {

constexpr std::array kAlgorithms = {LimitAlgorithm::kSlidingWindow, LimitAlgorithm::kTokenBucket,
                                    LimitAlgorithm::kFixedWindow, LimitAlgorithm::kGcra};

}  // namespace

bool IsValidNamespaceName(std::string_view name) {
  if (name.empty() || name.size() > kMaxRatelimitNameLength) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool LooksLikeNamespaceId(std::string_view text) {
  return text.size() > kRatelimitNamespaceIdPrefix.size() + 1 && text.starts_with(kRatelimitNamespaceIdPrefix) &&
         text[kRatelimitNamespaceIdPrefix.size()] == '_';
}

bool IsWildcardPattern(std::string_view identifier) { return identifier.find('*') != std::string_view::npos; }

bool WildcardMatches(std::string_view pattern, std::string_view identifier) {
  // Greedy with one backtrack point: on a mismatch, the last star absorbs one more character.
  std::size_t p = 0;
  std::size_t i = 0;
  std::size_t star = std::string_view::npos;  // position of the last '*' seen in pattern
  std::size_t star_i = 0;                     // where in identifier that star's run ends
  while (i < identifier.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_i = i;
    } else if (p < pattern.size() && pattern[p] == identifier[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++star_i;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string_view LimitAlgorithmName(LimitAlgorithm algorithm) {
  switch (algorithm) {
    case LimitAlgorithm::kSlidingWindow: return "sliding_window";
    case LimitAlgorithm::kTokenBucket: return "token_bucket";
    case LimitAlgorithm::kFixedWindow: return "fixed_window";
    case LimitAlgorithm::kGcra: return "gcra";
  }
  return "sliding_window";
}

std::optional<LimitAlgorithm> ParseLimitAlgorithm(std::string_view name) {
  for (LimitAlgorithm algorithm : kAlgorithms) {
    if (LimitAlgorithmName(algorithm) == name) return algorithm;
  }
  return std::nullopt;
}

}  // namespace tollgate
