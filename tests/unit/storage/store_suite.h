// The Store contract, written against the Store interface only: one suite of TEST_P cases
// (store_suite.cc) that every backend runs. A backend joins with one INSTANTIATE_TEST_SUITE_P of
// StoreTest naming its StoreBackend factory (sqlite_store_test.cc, postgres_store_test.cc); the
// factory hands back a store with empty tables.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "result_assertions.h"
#include "storage/store.h"
#include "temp_dir.h"

namespace tollgate::store_suite {

#define EXPECT_ERROR(expr, error_code)                                                  \
  do {                                                                                  \
    const auto& result_ = (expr);                                                       \
    ASSERT_FALSE(result_.has_value()) << "expected " #error_code;                       \
    EXPECT_EQ(result_.error().code, ErrorCode::error_code) << result_.error().detail;   \
  } while (false)

// How a backend under test is made. `scratch` is an empty directory owned by the test: a file
// store puts its file there; a server-backed store ignores it.
struct StoreBackend {
  std::string name;
  std::function<Result<StorePtr>(const std::filesystem::path& scratch)> make;
};

inline void PrintTo(const StoreBackend& backend, std::ostream* out) { *out << backend.name; }

class StoreTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    auto store = GetParam().make(scratch_.Path());
    ASSERT_TRUE(store.has_value()) << store.error().detail;
    store_ = std::move(*store);
  }

  // Inserts an API, failing the test if that does not work.
  void AddApi(const std::string& id) {
    ASSERT_OK(store_->InsertApi(Api{.id = id, .name = "api " + id, .created_at = 1'000}));
  }

  TempDir scratch_;
  StorePtr store_;
};

}  // namespace tollgate::store_suite
