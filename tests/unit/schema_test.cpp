// The input-schema subset: compiled from YAML by the DSL, then validate() on JSON input.
#include <gtest/gtest.h>

#include "dsl/compiler.h"
#include "sagas/schema.h"

namespace {

using sagas::Json;

// Compiles a saga whose input schema is `schema` (YAML, indented under input:).
sagas::Schema schema_of(const std::string& schema) {
  std::string yaml = "apiVersion: saga/v1\nsaga: s\ninput:\n" + schema +
                     "\nsteps:\n  - {name: a, topic: t, command: C}\n";
  auto r = dsl::compile(yaml, "s.yaml");
  EXPECT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : dsl::format(r.diagnostics[0]));
  return r.ok() ? *r.definition->input : sagas::Schema{};
}

std::vector<std::string> violations(const sagas::Schema& s, const char* json) {
  std::vector<std::string> out;
  for (const auto& v : sagas::validate(s, *Json::parse(json))) out.push_back(v.path + ": " + v.message);
  return out;
}

using V = std::vector<std::string>;

const char* kOrder = R"(  type: object
  required: [orderId, amount]
  properties:
    orderId: {type: string, minLength: 3, maxLength: 5, pattern: "^o-"}
    amount: {type: number, minimum: 0, maximum: 100}
    qty: {type: integer}
    mode: {enum: [fast, slow]}
    note: {type: [string, "null"]}
    items:
      type: array
      items: {type: object, required: [sku]}
    "odd key": {type: boolean})";

TEST(Schema, AcceptsAValidDocument) {
  auto s = schema_of(kOrder);
  EXPECT_EQ(violations(s, R"({"orderId":"o-1","amount":5,"qty":2.0,"mode":"fast","note":null,"items":[{"sku":"x"}]})"),
            V{});
}

TEST(Schema, ReportsEveryViolationWithItsPath) {
  auto s = schema_of(kOrder);
  EXPECT_EQ(violations(s, R"({"orderId":"x-123456","amount":-1,"qty":1.5,"mode":"medium","note":3,
                              "items":[{"sku":"a"},{"qty":1},"z"],"odd key":"yes"})"),
            (V{"$.orderId: must be at most 5 characters long, got 8",
               "$.orderId: must match pattern ^o-, got \"x-123456\"",
               "$.amount: must be >= 0, got -1",
               "$.qty: must be integer, got number",
               "$.mode: must be one of \"fast\", \"slow\", got \"medium\"",
               "$.note: must be null or string, got integer",
               "$.items[1]: missing required property \"sku\"",
               "$.items[2]: must be object, got string",
               "$[\"odd key\"]: must be boolean, got string"}));
}

TEST(Schema, ReportsMissingRequiredAndWrongRootType) {
  auto s = schema_of(kOrder);
  EXPECT_EQ(violations(s, R"({"amount":101})"),
            (V{"$: missing required property \"orderId\"", "$.amount: must be <= 100, got 101"}));
  EXPECT_EQ(violations(s, "[]"), (V{"$: must be object, got array"}));
}

TEST(Schema, CountsLengthInCharactersNotBytes) {
  auto s = schema_of("  type: string\n  maxLength: 2");
  EXPECT_EQ(violations(s, "\"\xC3\xA9\xC3\xA9\""), V{});
  EXPECT_EQ(violations(s, "\"abc\""), (V{"$: must be at most 2 characters long, got 3"}));
}

TEST(Schema, RefusesToMatchPatternsAgainstHugeStrings) {
  auto s = schema_of("  type: string\n  pattern: \"^(a+)+$\"");
  std::string big = "\"" + std::string(sagas::kMaxPatternSubjectLength + 1, 'a') + "\"";
  auto v = violations(s, big.c_str());
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].find("is too long"), std::string::npos);
}

TEST(Schema, PathologicalPatternRunsInLinearTime) {
  // With a backtracking matcher this input takes longer than the test suite; the
  // polynomial matcher answers at once.
  auto s = schema_of("  type: string\n  pattern: \"^(a+)+$\"");
  std::string evil = "\"" + std::string(3000, 'a') + "!\"";
  EXPECT_EQ(violations(s, evil.c_str()).size(), 1u);
}

TEST(Schema, PropertiesDoNotCloseAnObjectButAdditionalPropertiesDoes) {
  EXPECT_EQ(violations(schema_of("  properties:\n    orderId: {type: string}"), R"({"orderId":"o","extra":1})"), V{});
  EXPECT_EQ(violations(schema_of("  additionalProperties: false\n  properties:\n    orderId: {type: string}"),
                       R"({"orderId":"o","extra":1})"),
            V{"$.extra: is not allowed (additionalProperties: false); the declared properties are orderId"});
  EXPECT_EQ(violations(schema_of("  additionalProperties: {type: integer}\n  properties:\n    orderId: {type: string}"),
                       R"({"orderId":"o","a":1,"b":"two"})"),
            V{"$.b: must be integer, got string"});
  EXPECT_EQ(violations(schema_of("  additionalProperties: true"), R"({"any":1})"), V{});
}

}  // namespace
