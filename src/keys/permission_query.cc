#include "keys/permission_query.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace tollgate {
namespace {

constexpr const char* kLocation = "body.permissions";
constexpr const char* kSyntaxFix =
    "join permission names with AND or OR and group them with parentheses, e.g. "
    "\"a.read AND (b.write OR c)\"";

bool IsPermissionChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '*' || c == '-' || c == '/';
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool EqualsIgnoringCase(std::string_view word, std::string_view upper) {
  return word.size() == upper.size() &&
         std::equal(word.begin(), word.end(), upper.begin(), [](char a, char b) {
           return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
         });
}

// Quotes a printable ASCII character and spells any other byte in hex, so that an error message
// never carries a control character or a broken UTF-8 sequence into the JSON response.
std::string DescribeChar(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x21 && byte < 0x7f) return std::string("'") + c + "'";
  char hex[16];
  std::snprintf(hex, sizeof hex, "byte 0x%02X", byte);
  return hex;
}

tl::unexpected<Error> QueryError(std::string message, std::string fix = kSyntaxFix) {
  std::string detail = "invalid permissions query: " + message;
  return Fail(Error::InvalidInput(std::move(detail),
                                  {FieldError{kLocation, std::move(message), std::move(fix)}}));
}

}  // namespace

// Recursive descent over a one-token lookahead. Recursion depth is three frames per level of
// parentheses, and parentheses are capped at kMaxPermissionQueryDepth.
class PermissionQuery::Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<PermissionQuery> Run() {
    if (text_.size() > kMaxPermissionQueryLength) {
      return QueryError("is " + std::to_string(text_.size()) + " characters long; at most " +
                            std::to_string(kMaxPermissionQueryLength) + " are allowed",
                        "split the check into several verifications or use roles");
    }
    if (auto lexed = Advance(); !lexed) return Fail(std::move(lexed).error());
    if (token_.kind == TokenKind::kEnd) {
      return QueryError("is empty; it must name at least one permission",
                        "omit permissions to skip the check, or name one, e.g. \"a.read\"");
    }
    auto root = ParseOr(0);
    if (!root) return Fail(std::move(root).error());
    if (token_.kind == TokenKind::kClose) {
      return QueryError("unexpected ')' at position " + std::to_string(token_.pos) +
                        "; it closes no '('");
    }
    if (token_.kind != TokenKind::kEnd) {
      return QueryError("unexpected " + Describe(token_) + " at position " +
                        std::to_string(token_.pos) + "; expected AND or OR before it");
    }
    return std::move(query_);
  }

 private:
  enum class TokenKind { kPermission, kAnd, kOr, kOpen, kClose, kEnd };
  struct Token {
    TokenKind kind = TokenKind::kEnd;
    std::size_t pos = 0;
    std::string_view text;
  };

  static std::string Describe(const Token& token) {
    if (token.kind == TokenKind::kEnd) return "end of query";
    return "'" + std::string(token.text) + "'";
  }

  // Reads the next token into token_.
  Status Advance() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
    const std::size_t start = pos_;
    if (pos_ == text_.size()) {
      token_ = {TokenKind::kEnd, start, {}};
      return {};
    }
    const char c = text_[pos_];
    if (c == '(' || c == ')') {
      ++pos_;
      token_ = {c == '(' ? TokenKind::kOpen : TokenKind::kClose, start, text_.substr(start, 1)};
      return {};
    }
    if (!IsPermissionChar(c)) {
      return QueryError("unexpected character " + DescribeChar(c) + " at position " +
                            std::to_string(start),
                        "permission names may contain only letters, digits and . _ : * - /");
    }
    while (pos_ < text_.size() && IsPermissionChar(text_[pos_])) ++pos_;
    const std::string_view word = text_.substr(start, pos_ - start);
    if (EqualsIgnoringCase(word, "AND")) {
      token_ = {TokenKind::kAnd, start, word};
    } else if (EqualsIgnoringCase(word, "OR")) {
      token_ = {TokenKind::kOr, start, word};
    } else if (word.size() > kMaxPermissionNameLength) {
      return QueryError("the permission at position " + std::to_string(start) + " is " +
                            std::to_string(word.size()) + " characters long; at most " +
                            std::to_string(kMaxPermissionNameLength) + " are allowed",
                        "use a shorter permission name");
    } else {
      token_ = {TokenKind::kPermission, start, word};
    }
    return {};
  }

  // or_expr := and_expr ("OR" and_expr)*
  Result<std::uint32_t> ParseOr(int depth) {
    return ParseChain(depth, TokenKind::kOr, NodeKind::kOr);
  }

  // and_expr := primary ("AND" primary)*
  Result<std::uint32_t> ParseAnd(int depth) {
    return ParseChain(depth, TokenKind::kAnd, NodeKind::kAnd);
  }

  // Operands of one operator become the children of a single n-ary node rather than a chain of
  // binary ones, which keeps "a OR b OR c …" from deepening the tree.
  Result<std::uint32_t> ParseChain(int depth, TokenKind op, NodeKind kind) {
    std::vector<std::uint32_t> operands;
    while (true) {
      auto operand = kind == NodeKind::kOr ? ParseAnd(depth) : ParsePrimary(depth);
      if (!operand) return operand;
      operands.push_back(*operand);
      if (token_.kind != op) break;
      if (auto lexed = Advance(); !lexed) return Fail(std::move(lexed).error());
    }
    if (operands.size() == 1) return operands.front();
    PermissionQuery::Node node;
    node.kind = kind;
    node.first = static_cast<std::uint32_t>(query_.children_.size());
    node.count = static_cast<std::uint32_t>(operands.size());
    query_.children_.insert(query_.children_.end(), operands.begin(), operands.end());
    return Add(std::move(node));
  }

  // primary := permission | "(" or_expr ")"
  Result<std::uint32_t> ParsePrimary(int depth) {
    const Token token = token_;
    if (token.kind == TokenKind::kPermission) {
      if (auto lexed = Advance(); !lexed) return Fail(std::move(lexed).error());
      PermissionQuery::Node node;
      node.permission = std::string(token.text);
      return Add(std::move(node));
    }
    if (token.kind != TokenKind::kOpen) {
      return QueryError("unexpected " + Describe(token) + " at position " +
                        std::to_string(token.pos) + "; expected a permission or '('");
    }
    if (depth >= kMaxPermissionQueryDepth) {
      return QueryError("parentheses nest deeper than " +
                            std::to_string(kMaxPermissionQueryDepth) + " levels at position " +
                            std::to_string(token.pos),
                        "remove redundant parentheses");
    }
    if (auto lexed = Advance(); !lexed) return Fail(std::move(lexed).error());
    auto inner = ParseOr(depth + 1);
    if (!inner) return inner;
    if (token_.kind == TokenKind::kEnd) {
      return QueryError("missing ')' for the '(' at position " + std::to_string(token.pos));
    }
    if (token_.kind != TokenKind::kClose) {
      return QueryError("unexpected " + Describe(token_) + " at position " +
                        std::to_string(token_.pos) + "; expected AND, OR or ')'");
    }
    if (auto lexed = Advance(); !lexed) return Fail(std::move(lexed).error());
    return inner;
  }

  std::uint32_t Add(PermissionQuery::Node node) {
    query_.nodes_.push_back(std::move(node));
    return static_cast<std::uint32_t>(query_.nodes_.size() - 1);
  }

  std::string_view text_;
  std::size_t pos_ = 0;  // next byte to lex
  Token token_;          // the lookahead
  PermissionQuery query_;
};

Result<PermissionQuery> PermissionQuery::Parse(std::string_view text) {
  return Parser(text).Run();
}

bool PermissionQuery::Evaluate(const std::function<bool(std::string_view)>& has_permission) const {
  // Only a moved-from query is empty; deny rather than grant.
  if (nodes_.empty()) return false;
  return EvaluateNode(nodes_.size() - 1, has_permission);
}

bool PermissionQuery::EvaluateAgainst(const std::vector<std::string>& permissions) const {
  return Evaluate([&permissions](std::string_view name) {
    return std::find(permissions.begin(), permissions.end(), name) != permissions.end();
  });
}

bool PermissionQuery::EvaluateNode(
    std::size_t index, const std::function<bool(std::string_view)>& has_permission) const {
  const Node& node = nodes_[index];
  if (node.kind == NodeKind::kPermission) return has_permission(node.permission);
  const auto begin = children_.begin() + node.first;
  const auto end = begin + node.count;
  const auto holds = [&](std::uint32_t child) { return EvaluateNode(child, has_permission); };
  return node.kind == NodeKind::kAnd ? std::all_of(begin, end, holds)
                                     : std::any_of(begin, end, holds);
}

std::string PermissionQuery::ToString() const {
  std::string out;
  if (!nodes_.empty()) AppendNode(nodes_.size() - 1, out);
  return out;
}

void PermissionQuery::AppendNode(std::size_t index, std::string& out) const {
  const Node& node = nodes_[index];
  if (node.kind == NodeKind::kPermission) {
    out += node.permission;
    return;
  }
  const char* separator = node.kind == NodeKind::kAnd ? " AND " : " OR ";
  for (std::uint32_t i = 0; i < node.count; ++i) {
    const std::uint32_t child = children_[node.first + i];
    if (i > 0) out += separator;
    // Only an OR inside an AND needs parentheses; everything else follows from precedence.
    const bool parenthesize = node.kind == NodeKind::kAnd && nodes_[child].kind == NodeKind::kOr;
    if (parenthesize) out += '(';
    AppendNode(child, out);
    if (parenthesize) out += ')';
  }
}

}  // namespace tollgate
