// Helpers shared by the files that implement PostgresStore (postgres_store.cc and the per-domain
// files beside it): one statement on a pooled connection, a transaction around a body, and a
// write that must touch exactly one row. Internal to storage/postgres.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "storage/postgres/pg_connection.h"
#include "storage/store_internal.h"

namespace tollgate::postgres_internal {

using storage::During;

// Runs one statement on a borrowed connection. The result owns its rows, so it outlives the lease.
inline Result<PgResult> QueryOnce(PgPool& pool, std::string_view sql, const PgParams& params, std::string_view what) {
  auto lease = pool.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  auto result = (*lease)->Query(sql, params);
  if (!result) return Fail(During(what, std::move(result.error())));
  return result;
}

// Runs `body` inside one transaction on `connection`: committed when `body` succeeds, rolled
// back otherwise.
template <typename Body>
Status InTransaction(PgConnection& connection, std::string_view what, Body&& body) {
  auto transaction = PgTransaction::Begin(connection);
  if (!transaction) return Fail(During(what, std::move(transaction.error())));
  if (Status done = body(connection); !done) return done;
  if (auto committed = transaction->Commit(); !committed) return Fail(During(what, std::move(committed.error())));
  return {};
}

template <typename Body>
Status InTransaction(PgPool& pool, std::string_view what, Body&& body) {
  auto lease = pool.Acquire();
  if (!lease) return Fail(std::move(lease.error()));
  return InTransaction(**lease, what, std::forward<Body>(body));
}

// Runs a write that must touch exactly one live row; none touched means `missing`. Returns the
// statement's RETURNING rows.
inline Result<PgResult> RunOnOne(PgConnection& connection, std::string_view sql, const PgParams& params,
                          std::string_view what, std::string missing) {
  auto result = connection.Query(sql, params);
  if (!result) return Fail(During(what, std::move(result.error())));
  if (result->Affected() == 0) return Fail(Error::NotFound(std::move(missing)));
  return result;
}

}  // namespace tollgate::postgres_internal
