// The `permissions` query of keys.verifyKey: which permissions a key must hold to be valid, as a
// boolean expression such as `a.read AND (b.write OR c)`. Parsed once per request at the edge,
// then evaluated against the key's permissions.
//
// Grammar (AND binds tighter than OR; operators are case-insensitive words):
//   query      := or_expr
//   or_expr    := and_expr ("OR" and_expr)*
//   and_expr   := primary ("AND" primary)*
//   primary    := permission | "(" or_expr ")"
//   permission := 1..512 of [A-Za-z0-9 . _ : * - /], other than the words AND and OR
// Whitespace separates tokens and is otherwise ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tollgate {

inline constexpr std::size_t kMaxPermissionQueryLength = 1000;
inline constexpr std::size_t kMaxPermissionNameLength = 512;
// Deepest parenthesis nesting accepted. Parsing and evaluation recurse once per level, so this
// bounds the stack an untrusted query can make us use.
inline constexpr int kMaxPermissionQueryDepth = 32;

class PermissionQuery {
 public:
  // Fails with InvalidInput carrying one FieldError at "body.permissions" whose message says
  // what is wrong and where; positions are 0-based byte offsets into text. An empty or
  // whitespace-only text, a text over 1000 bytes, a name over 512 bytes and nesting deeper than
  // 32 are all refused.
  static Result<PermissionQuery> Parse(std::string_view text);

  // True if the key satisfies the query. has_permission is asked about single permission names;
  // AND and OR short-circuit, so it may not be asked about every name in the query.
  bool Evaluate(const std::function<bool(std::string_view)>& has_permission) const;

  // Evaluate with exact, case-sensitive string matching against a key's permissions. A '*' in a
  // held permission or in the query is an ordinary character, not a wildcard: "api.*" is
  // satisfied only by a key that holds exactly "api.*". Costs a linear scan of permissions per
  // name asked about; fine for the tens of permissions a key has.
  bool EvaluateAgainst(const std::vector<std::string>& permissions) const;

  // Canonical text: operators in upper case, single spaces, and only the parentheses that the
  // precedence needs. Parse(ToString()) yields an equivalent query with the same ToString() as
  // long as that text is within kMaxPermissionQueryLength: the spaces it puts around operators
  // can make it longer than the text parsed ("(a OR b)AND c" becomes "(a OR b) AND c"), and the
  // limit is on what a caller sends.
  std::string ToString() const;

 private:
  class Parser;

  enum class NodeKind : std::uint8_t { kPermission, kAnd, kOr };
  struct Node {
    NodeKind kind = NodeKind::kPermission;
    std::string permission;    // kPermission only
    std::uint32_t first = 0;   // kAnd / kOr: their operands are children_[first, first + count)
    std::uint32_t count = 0;
  };

  PermissionQuery() = default;
  bool EvaluateNode(std::size_t index,
                    const std::function<bool(std::string_view)>& has_permission) const;
  void AppendNode(std::size_t index, std::string& out) const;

  // Post-order: operands precede the operator that uses them, so the root is nodes_.back().
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> children_;  // indices into nodes_
};

}  // namespace tollgate
