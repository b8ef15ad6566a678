// Template parsing (dsl/template_parser) and rendering (sagas/template) against a context.
#include <gtest/gtest.h>

#include "dsl/compiler.h"
#include "dsl/template_parser.h"
#include "sagas/template.h"

namespace {

using sagas::Json;
using sagas::Missing;
using sagas::RefRoot;

TEST(TemplateSyntax, SplitsTextAndReferences) {
  dsl::ParsedString p;
  dsl::TemplateSyntaxError e;
  ASSERT_TRUE(dsl::parse_template_string("order ${ input.items[2].sku } now", p, e));
  ASSERT_EQ(p.parts.size(), 3u);
  EXPECT_EQ(std::get<std::string>(p.parts[0]), "order ");
  const auto& ref = std::get<dsl::RawRef>(p.parts[1]);
  EXPECT_EQ(ref.text, "input.items[2].sku");
  ASSERT_EQ(ref.segments.size(), 4u);
  EXPECT_EQ(std::get<std::size_t>(ref.segments[2]), 2u);
  EXPECT_EQ(std::get<std::string>(p.parts[2]), " now");
  EXPECT_FALSE(p.is_single_ref());
}

TEST(TemplateSyntax, DoubleDollarIsALiteral) {
  dsl::ParsedString p;
  dsl::TemplateSyntaxError e;
  ASSERT_TRUE(dsl::parse_template_string("cost: $${price}", p, e));
  EXPECT_FALSE(p.has_refs());
  EXPECT_EQ(std::get<std::string>(p.parts[0]), "cost: ${price}");
}

TEST(TemplateSyntax, ReportsErrorsWithOffsets) {
  struct Case {
    const char* text;
    std::size_t offset;
    const char* message;
  };
  const Case cases[] = {
      {"a ${input.x", 2, "unterminated template \"${input.x\": add the closing '}' (write $${ for a literal ${)"},
      {"${}", 2, "empty template ${}: write a path such as ${input.orderId}"},
      {"${input..x}", 8, "expected a name at \".x\" in ${input..x}"},
      {"${input.x.}", 10, "path ends with '.' in ${input.x.}"},
      {"${input[x]}", 7, "expected [n] with a number n in ${input[x]}"},
      {"${input x}", 7, "unexpected ' ' in ${input x}: paths are names joined by '.' with [n] for array items"},
  };
  for (const auto& c : cases) {
    dsl::ParsedString p;
    dsl::TemplateSyntaxError e;
    EXPECT_FALSE(dsl::parse_template_string(c.text, p, e)) << c.text;
    EXPECT_EQ(e.offset, c.offset) << c.text;
    EXPECT_EQ(e.message, c.message) << c.text;
  }
}

// Renders the payload of step `step` of a small compiled saga against fixed values.
class TemplateRender : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = dsl::compile(R"(apiVersion: saga/v1
saga: t
version: 3
steps:
  - name: a
    topic: t.a
    command: A
    compensation:
      command: UndoA
      payload: {id: "${steps.a.reply.id}", text: "undo ${steps.a.reply.id}", req: "${steps.a.request.n}"}
  - name: b
    topic: t.b
    command: B
    payload:
      whole: ${input.items}
      number: ${input.n}
      text: "n=${input.n}, items=${input.items}, flag=${input.flag}"
      nested: [{deep: "${steps.a.reply.list[1]}"}, literal]
      saga: "${saga.name}/${saga.version}/${saga.id}"
      missing: ${input.nope}
)", "t.yaml");
    ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : dsl::format(r.diagnostics[0]));
    def_ = r.definition;
    input_ = *Json::parse(R"({"items": [1, "two"], "n": 7, "flag": true})");
    reply_a_ = *Json::parse(R"({"id": "r-1", "list": ["x", "y"]})");
    request_a_ = *Json::parse(R"({"n": 1})");
    ctx_.input = &input_;
    ctx_.saga_id = "sid";
    ctx_.saga_name = "t";
    ctx_.saga_version = 3;
    ctx_.step_value = [this](sagas::StepIndex i, RefRoot part) -> const Json* {
      if (i.value() != 0 || !have_a_) return nullptr;
      return part == RefRoot::step_reply ? &reply_a_ : &request_a_;
    };
  }

  sagas::DefinitionPtr def_;
  Json input_, reply_a_, request_a_;
  bool have_a_ = true;
  sagas::RenderContext ctx_;
};

TEST_F(TemplateRender, WholeValueKeepsTypeAndInterpolationMakesText) {
  input_.set("nope", "here");
  auto r = def_->steps[1].execute.payload.render(ctx_, Missing::fail);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->dump(),
            R"({"whole":[1,"two"],"number":7,"text":"n=7, items=[1,\"two\"], flag=true",)"
            R"("nested":[{"deep":"y"},"literal"],"saga":"t/3/sid","missing":"here"})");
}

TEST_F(TemplateRender, MissingValueFailsTheStepOutsideCompensation) {
  auto r = def_->steps[1].execute.payload.render(ctx_, Missing::fail);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "${input.nope} has no value");
}

TEST_F(TemplateRender, MissingReplyRendersNullInsideCompensation) {
  have_a_ = false;  // the step timed out: no reply, no request recorded
  auto r = def_->steps[0].compensation->payload.render(ctx_, Missing::as_null);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->dump(), R"({"id":null,"text":"undo null","req":null})");
}

TEST_F(TemplateRender, CompensationSeesItsOwnReplyAndRequest) {
  auto r = def_->steps[0].compensation->payload.render(ctx_, Missing::as_null);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->dump(), R"({"id":"r-1","text":"undo r-1","req":1})");
}

TEST_F(TemplateRender, PayloadWithoutTemplatesIsFoldedIntoOneLiteral) {
  EXPECT_TRUE(def_->steps[0].execute.payload.is_literal());
  EXPECT_FALSE(def_->steps[1].execute.payload.is_literal());
}

TEST_F(TemplateRender, ArrayIndexOutOfRangeIsMissing) {
  reply_a_ = *Json::parse(R"({"id": "r-1", "list": ["x"]})");
  input_.set("nope", 1);
  auto r = def_->steps[1].execute.payload.render(ctx_, Missing::fail);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "${steps.a.reply.list[1]} has no value");
}

}  // namespace
