#include "sagas/json.h"

#include <gtest/gtest.h>

namespace sagas {
namespace {

TEST(Json, ParsesAndDumpsEveryKind) {
  auto r = Json::parse(R"( {"a": null, "b": true, "c": -12, "d": 2.5, "e": "x", "f": [1, {"g": []}]} )");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->dump(), R"({"a":null,"b":true,"c":-12,"d":2.5,"e":"x","f":[1,{"g":[]}]})");
  EXPECT_TRUE(r->find("c")->is_integer());
  EXPECT_EQ(r->find("d")->kind(), Json::Kind::number);
}

TEST(Json, ObjectsKeepInsertionOrderAndSetReplaces) {
  Json o = Json::object();
  o.set("z", 1);
  o.set("a", 2);
  o.set("z", 3);
  EXPECT_EQ(o.dump(), R"({"z":3,"a":2})");
}

TEST(Json, EscapesAndUnicodeRoundTrip) {
  auto r = Json::parse(R"("tab\tquote\" \u00e9 \ud83d\ude00 \u0001")");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->as_string(), "tab\tquote\" \xC3\xA9 \xF0\x9F\x98\x80 \x01");
  EXPECT_EQ(r->dump(), "\"tab\\tquote\\\" \xC3\xA9 \xF0\x9F\x98\x80 \\u0001\"");
}

TEST(Json, ErrorsSayLineAndColumn) {
  auto r = Json::parse("{\n  \"a\": 1,\n  \"b\" 2\n}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "line 3, column 7: expected ':' after the key");
}

TEST(Json, RejectsTrailingText) {
  auto r = Json::parse("{} x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "line 1, column 4: unexpected text after the JSON value");
}

TEST(Json, RejectsUnpairedSurrogate) {
  EXPECT_FALSE(Json::parse(R"("\ud83d")").ok());
}

TEST(Json, RefusesNestingPastTheLimitInsteadOfOverflowingTheStack) {
  std::string deep(100000, '[');
  auto r = Json::parse(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nesting deeper than 256 levels"), std::string::npos);
}

TEST(Json, HugeIntegersBecomeDoubles) {
  auto r = Json::parse("123456789012345678901234567890");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind(), Json::Kind::number);
}

TEST(Json, NumbersCompareByValueAcrossKinds) {
  EXPECT_EQ(Json(1), Json(1.0));
  EXPECT_NE(Json(1), Json(1.5));
  EXPECT_NE(Json(1), Json("1"));
  EXPECT_EQ(*Json::parse(R"({"a":1,"b":2})"), *Json::parse(R"({"b":2,"a":1})"));
}

}  // namespace
}  // namespace sagas
