#include "dsl/duration.h"

#include <gtest/gtest.h>

namespace dsl {
namespace {

using std::chrono::milliseconds;

TEST(Duration, ParsesEachUnitAndSums) {
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("10s"), milliseconds(10000));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("1m30s"), milliseconds(90000));
  EXPECT_EQ(parse_duration("7d"), milliseconds(7LL * 86400000));
}

TEST(Duration, RejectsMalformedAndOverflowingText) {
  for (const char* bad : {"", "10", "s", "10x", "1.5s", "-1s", " 1s", "1s ", "99999999999999999999h"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(Duration, FormatsTheShortestExactSpelling) {
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(milliseconds(90000)), "90s");
  EXPECT_EQ(format_duration(milliseconds(120000)), "2m");
  EXPECT_EQ(format_duration(milliseconds(7200000)), "2h");
  EXPECT_EQ(format_duration(milliseconds(2LL * 86400000)), "2d");
}

}  // namespace
}  // namespace dsl
