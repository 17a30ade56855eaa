// The read of one page of a history table (alerts, webhook deliveries) filtered by equality on
// some columns, newest first, for every Store backend. The WHERE clause names only the filters
// that are set: a clause naming all of them as "(?1 = '' OR rule_id = ?1)" hides from the planner
// which ones apply, so it can use none of their indexes (SQLite plans a statement without its
// values, and so does PostgreSQL's generic plan of a prepared statement) and walks the whole
// table instead. The texts stay a small fixed set, one per combination of filters set, and so do
// the statements each connection prepares.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::storage {

struct HistoryQuery {
  // "<select> WHERE a = ?1 AND ... seq < ?n ORDER BY seq DESC LIMIT ?n+1"
  std::string sql;
  // The values of the filters that are set: parameters 1 to n - 1, in order. The cursor (the seq
  // to read below) is parameter n, the row limit n + 1.
  std::vector<std::string> values;
  int cursor_param() const { return static_cast<int>(values.size()) + 1; }
  int limit_param() const { return static_cast<int>(values.size()) + 2; }
};

// `select` is "SELECT <columns> FROM <table>"; `marker` '?' (SQLite) or '$' (PostgreSQL); each
// filter is (column, value), set when the value is not empty.
inline HistoryQuery HistoryPageQuery(char marker, std::string_view select,
                                     std::initializer_list<std::pair<std::string_view, std::string_view>> filters) {
  HistoryQuery query;
  const auto param = [marker](int n) { return marker + std::to_string(n); };
  query.sql.append(select).append(" WHERE ");
  for (const auto& [column, value] : filters) {
    if (value.empty()) continue;
    query.values.emplace_back(value);
    query.sql.append(column).append(" = ").append(param(query.cursor_param() - 1)).append(" AND ");
  }
  query.sql.append("seq < ").append(param(query.cursor_param()));
  query.sql.append(" ORDER BY seq DESC LIMIT ").append(param(query.limit_param()));
  return query;
}

}  // namespace tollgate::storage
