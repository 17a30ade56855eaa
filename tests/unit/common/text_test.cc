#include "common/text.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(RedactUrlPasswordTest, HidesThePasswordOfTheUserInfo) {
  EXPECT_EQ(RedactUrlPassword("postgres://tollgate:s3cret@db:5432/tollgate"), "postgres://tollgate:***@db:5432/tollgate");
  EXPECT_EQ(RedactUrlPassword("amqp://guest:guest@127.0.0.1:5672/"), "amqp://guest:***@127.0.0.1:5672/");
  // Unencoded '/' and '@' in the password are still covered.
  EXPECT_EQ(RedactUrlPassword("postgres://u:pa/s@s@db/x"), "postgres://u:***@db/x");
}

TEST(RedactUrlPasswordTest, HidesAPasswordQueryParameter) {
  EXPECT_EQ(RedactUrlPassword("postgres://db/x?user=u&password=s3cret&sslmode=require"),
            "postgres://db/x?user=u&password=***&sslmode=require");
  EXPECT_EQ(RedactUrlPassword("postgres://db/x?password=s3cret"), "postgres://db/x?password=***");
}

TEST(RedactUrlPasswordTest, LeavesUrlsWithoutAPasswordAlone) {
  EXPECT_EQ(RedactUrlPassword("postgres://postgres@127.0.0.1:5432/postgres"), "postgres://postgres@127.0.0.1:5432/postgres");
  EXPECT_EQ(RedactUrlPassword("inprocess"), "inprocess");
  EXPECT_EQ(RedactUrlPassword("sqlite://./data/tollgate.db"), "sqlite://./data/tollgate.db");
}

}  // namespace
}  // namespace tollgate
