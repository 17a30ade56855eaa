// The PostgreSQL store runs the whole Store contract (store_suite.h) against a real PostgreSQL
// server. make test starts one (tests/scripts/postgres.sh, a CTest fixture) and names it in
// TOLLGATE_TEST_POSTGRES as a libpq key=value string; every case gets a schema of its own, so
// cases start from empty tables and never see each other's rows.
#include "storage/postgres/postgres_store.h"

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "common/ids.h"
#include "store_suite.h"
#include "storage/postgres/pg_connection.h"

namespace tollgate::store_suite {
namespace {

Result<StorePtr> OpenPostgresInFreshSchema(const std::filesystem::path&) {
  const char* server = std::getenv("TOLLGATE_TEST_POSTGRES");
  if (server == nullptr || *server == '\0') {
    return Fail(Error::Unavailable("TOLLGATE_TEST_POSTGRES is not set: run this suite through ctest, which starts "
                                   "PostgreSQL (tests/scripts/postgres.sh)"));
  }
  // Ids are lower-case base58 apart from the prefix: a valid unquoted identifier once lowered.
  std::string schema = NewId("t");
  for (auto& c : schema) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto admin = PgConnection::Open(server);
  if (!admin) return Fail(std::move(admin.error()));
  if (auto created = admin->Exec(("CREATE SCHEMA \"" + schema + "\"").c_str()); !created) return Fail(created.error());
  auto store = PostgresStore::Open(std::string(server) + " options='-c search_path=" + schema + "'",
                                   PostgresOptions{.pool_size = 4});
  if (!store) return Fail(std::move(store.error()));
  return StorePtr(std::move(*store));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(StoreBackend{"Postgres", OpenPostgresInFreshSchema}),
                         [](const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; });

}  // namespace
}  // namespace tollgate::store_suite
