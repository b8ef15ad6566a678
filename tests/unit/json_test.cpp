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

TEST(Json, StringsMustBeWellFormedUtf8) {
  for (const char* bad : {"\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"",
                          "{\"k\xe9y\": 1}"}) {
    auto r = sagas::Json::parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("invalid UTF-8"), std::string::npos) << r.error().message;
  }
  auto good = sagas::Json::parse("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa6\"");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->as_string(), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa6");
}

#include "sagas/saga_id.h"

TEST(SagaId, OnlyTheDocumentedAlphabetAndLength) {
  for (std::string ok : std::vector<std::string>{"a", "order-42", "01a20acb-55d6-77e2", "A.b_c~d", std::string(128, 'x')}) {
    EXPECT_EQ(sagas::check_saga_id(ok), std::nullopt) << ok;
  }
  for (std::string bad : std::vector<std::string>{"", "a/b", "a?b", "order:42", "<script>", "a b", "a%2Fb", "caf\xc3\xa9", std::string(129, 'x')}) {
    auto why = sagas::check_saga_id(bad);
    ASSERT_TRUE(why.has_value()) << bad;
    EXPECT_NE(why->find("A-Z a-z 0-9 . _ ~ -"), std::string::npos) << *why;
  }
}
