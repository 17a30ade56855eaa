// Assertions on Result<T> / Status for the unit tests: on failure they print the error's detail,
// which is what a person needs to see.
#pragma once

#include <gtest/gtest.h>

#define ASSERT_OK(expr)                                         \
  do {                                                          \
    const auto& result_ = (expr);                               \
    ASSERT_TRUE(result_.has_value()) << result_.error().detail; \
  } while (false)
