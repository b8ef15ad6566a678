// One test per DSL rule (docs/dsl.md), each asserting the exact FILE:LINE:COL and message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "dsl/compiler.h"
#include "dsl/loader.h"

namespace {

using V = std::vector<std::string>;

// Every diagnostic of compiling `yaml` as "s.yaml", formatted, in the order reported.
V diags(const std::string& yaml) {
  V out;
  for (const auto& d : dsl::compile(yaml, "s.yaml").diagnostics) out.push_back(dsl::format(d));
  return out;
}

V errors(const std::string& yaml) {
  V out;
  for (const auto& d : dsl::compile(yaml, "s.yaml").diagnostics) {
    if (d.severity == dsl::Severity::error) out.push_back(dsl::format(d));
  }
  return out;
}

// The diagnostics about ${input.*} templates, errors and warnings.
V input_diags(const std::string& yaml) {
  V out;
  for (const auto& d : dsl::compile(yaml, "s.yaml").diagnostics) {
    if (d.message.find("${input.") != std::string::npos) out.push_back(dsl::format(d));
  }
  return out;
}

sagas::DefinitionPtr ok(const std::string& yaml) {
  auto r = dsl::compile(yaml, "s.yaml");
  for (const auto& d : r.diagnostics) {
    if (d.severity == dsl::Severity::error) ADD_FAILURE() << dsl::format(d);
  }
  return r.definition;
}

const std::string kHead = "apiVersion: saga/v1\nsaga: s\nsteps:\n";  // steps start on line 4

TEST(Compiler, YamlSyntaxErrorUsesYamlCppPosition) {
  EXPECT_EQ(diags("apiVersion: saga/v1\nsaga: [unclosed\n"),
            V{"s.yaml:3:1: error: YAML syntax: end of sequence flow not found"});
}

TEST(Compiler, EmptyFile) {
  EXPECT_EQ(diags(""), V{"s.yaml:1:1: error: empty file: expected a saga definition with apiVersion, saga and steps"});
}

TEST(Compiler, RootMustBeAMapping) {
  EXPECT_EQ(diags("- a\n- b\n"), V{"s.yaml:1:1: error: the saga file must be a mapping of keys to values"});
}

TEST(Compiler, MissingRequiredKeysPointAtTheMapping) {
  EXPECT_EQ(diags("description: nothing else\n"),
            (V{"s.yaml:1:1: error: the saga is missing required key \"apiVersion\"",
               "s.yaml:1:1: error: the saga is missing required key \"saga\"",
               "s.yaml:1:1: error: the saga is missing required key \"steps\""}));
}

TEST(Compiler, UnsupportedApiVersion) {
  EXPECT_EQ(errors("apiVersion: saga/v2\nsaga: s\nsteps: [{name: a, topic: t, command: C}]\n"),
            V{"s.yaml:1:13: error: unsupported apiVersion \"saga/v2\": this sagactl understands saga/v1"});
}

TEST(Compiler, SagaNameMustMatchThePattern) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: Order Saga\nsteps: [{name: a, topic: t, command: C}]\n"),
            V{"s.yaml:2:7: error: saga name \"Order Saga\" must match [a-z0-9][a-z0-9._-]{0,127}: "
              "lower-case letters, digits, '.', '_' and '-'"});
}

TEST(Compiler, UnknownKeySuggestsTheClosestOne) {
  EXPECT_EQ(errors(kHead + "  - name: a\n    topic: t\n    command: C\n    timout: 5s\n"),
            V{"s.yaml:7:5: error: unknown key \"timout\" in step \"a\" (did you mean \"timeout\"?)"});
}

TEST(Compiler, AMisspeltParallelGroupIsOneErrorWithTheRightSpelling) {
  EXPECT_EQ(errors(kHead + "  - parralel:\n      name: g\n      steps: [{name: a, topic: t, command: C}]\n"),
            V{"s.yaml:4:5: error: unknown key \"parralel\" (did you mean \"parallel\"?)"});
}
TEST(Compiler, AnInputTemplateNamingANearMissOfADeclaredPropertyIsAnError) {
  const std::string head =
      "apiVersion: saga/v1\nsaga: s\ninput:\n  properties:\n    guest: {type: string}\n"
      "    rooms: {items: {properties: {kind: {type: string}}}}\n    any: {}\nsteps:\n";
  EXPECT_EQ(errors(head + "  - {name: a, topic: t, command: C, payload: {x: \"${input.gust}\"}}\n"),
            V{"s.yaml:9:50: error: ${input.gust}: the input schema declares no property \"gust\" in input "
              "(did you mean \"guest\"?)"});
  EXPECT_EQ(errors(head + "  - {name: a, topic: t, command: C, payload: {x: \"${input.rooms[0].kinf}\"}}\n"),
            V{"s.yaml:9:50: error: ${input.rooms[0].kinf}: the input schema declares no property \"kinf\" in "
              "input.rooms[] (did you mean \"kind\"?)"});
  // Declared paths, and anything below a property whose schema lists no properties, pass.
  EXPECT_EQ(input_diags(head + "  - {name: a, topic: t, command: C, payload: {x: \"${input.rooms[0].kind}\", "
                         "y: \"${input.any.deep.er}\", z: \"${input.guest}\"}}\n"),
            V{});
}

// JSON Schema's `properties` do not close an object: a sensible schema declares what it checks
// and leaves the rest open, and its payloads may still use the rest.
TEST(Compiler, AnInputTemplateNamingAnUndeclaredPropertyOfAnOpenObjectIsAWarning) {
  const std::string yaml =
      "apiVersion: saga/v1\nsaga: s\ninput:\n  required: [orderId]\n  properties:\n"
      "    orderId: {type: string}\n    amount: {type: number}\nsteps:\n"
      "  - {name: a, topic: t, command: C, when: \"${input.express}\", payload: {items: \"${input.items}\"}}\n"
      "  - {name: b, topic: t, command: C}\n";
  EXPECT_EQ(errors(yaml), V{});
  EXPECT_EQ(input_diags(yaml),
            (V{"s.yaml:9:43: warning: ${input.express}: the input schema does not declare \"express\" in input, so "
               "a start without it fails here at run time; declare it, or close the object with additionalProperties: false "
               "to make this an error",
               "s.yaml:9:80: warning: ${input.items}: the input schema does not declare \"items\" in input, so a "
               "start without it fails here at run time; declare it, or close the object with additionalProperties: false "
               "to make this an error"}));
}

TEST(Compiler, AnInputTemplateNamingAnUndeclaredPropertyOfAClosedObjectIsAnError) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\ninput:\n  additionalProperties: false\n  properties:\n"
                   "    orderId: {type: string}\nsteps:\n"
                   "  - {name: a, topic: t, command: C, payload: {x: \"${input.items}\"}}\n"),
            V{"s.yaml:8:50: error: ${input.items}: the input schema declares no property \"items\" in input and "
              "allows no other (additionalProperties: false); its properties are: orderId"});
}

TEST(Compiler, AnInputTemplateBelowAdditionalPropertiesFollowsItsSchema) {
  const std::string head =
      "apiVersion: saga/v1\nsaga: s\ninput:\n  properties:\n    prices:\n"
      "      additionalProperties: {properties: {net: {type: number}}}\nsteps:\n";
  EXPECT_EQ(input_diags(head + "  - {name: a, topic: t, command: C, payload: {x: \"${input.prices.eur.net}\"}}\n"), V{});
  EXPECT_EQ(errors(head + "  - {name: a, topic: t, command: C, payload: {x: \"${input.prices.eur.nett}\"}}\n"),
            V{"s.yaml:8:50: error: ${input.prices.eur.nett}: the input schema declares no property \"nett\" in "
              "input.prices.eur (did you mean \"net\"?)"});
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\ninput: {additionalProperties: maybe}\n"
                   "steps: [{name: a, topic: t, command: C}]\n"),
            V{"s.yaml:3:31: error: \"additionalProperties\" of the input schema must be true or false"});
}

TEST(Compiler, UnknownKeyWithNoCloseMatchListsTheAllowedKeys) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\nowner: team-x\nsteps: [{name: a, topic: t, command: C}]\n"),
            V{"s.yaml:3:1: error: unknown key \"owner\" in the saga file; allowed keys: apiVersion, saga, "
              "version, description, input, defaults, compensation, deadline, steps"});
}

TEST(Compiler, DuplicateKey) {
  EXPECT_EQ(errors(kHead + "  - name: a\n    topic: t\n    topic: u\n    command: C\n"),
            V{"s.yaml:6:5: error: duplicate key \"topic\" in step \"a\" (first at 5:5)"});
}

TEST(Compiler, WrongTypes) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\nversion: two\nsteps:\n"
                   "  - name: a\n    topic: t\n    command: {x: 1}\n    pivot: yes\n"),
            (V{"s.yaml:3:10: error: \"version\" of the saga must be an integer from 1 to 1000000000, got \"two\"",
               "s.yaml:7:14: error: \"command\" of step \"a\" must be a string",
               "s.yaml:8:12: error: \"pivot\" of step \"a\" must be true or false"}));
}

TEST(Compiler, BadDurations) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\ndeadline: 0s\nsteps:\n"
                   "  - name: a\n    topic: t\n    command: C\n    timeout: 10x\n"),
            (V{"s.yaml:3:11: error: \"deadline\" of the saga must be longer than 0",
               "s.yaml:8:14: error: bad duration \"10x\" for \"timeout\" of step \"a\": use a number with "
               "ms, s, m, h or d, e.g. 500ms, 10s, 2m, 1h, 7d"}));
}

TEST(Compiler, DuplicateStepNames) {
  EXPECT_EQ(errors(kHead + "  - {name: a, topic: t, command: C}\n  - {name: a, topic: t, command: D}\n"),
            V{"s.yaml:5:12: error: duplicate step name \"a\" (first defined at 4:12)"});
}

TEST(Compiler, StepsAndGroupsShareOneNamespace) {
  EXPECT_EQ(errors(kHead + "  - {name: a, topic: t, command: C}\n"
                           "  - parallel:\n      name: a\n      steps: [{name: b, topic: t, command: C}]\n"),
            V{"s.yaml:6:13: error: duplicate name \"a\" (first defined at 4:12); steps and groups share one namespace"});
}

TEST(Compiler, EmptySteps) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\nsteps: []\n"),
            V{"s.yaml:3:8: error: \"steps\" must list at least one step"});
}

TEST(Compiler, MissingStepKeysPointAtTheStep) {
  EXPECT_EQ(errors(kHead + "  - name: a\n    payload: {}\n"),
            (V{"s.yaml:4:5: error: step \"a\" is missing required key \"topic\"",
               "s.yaml:4:5: error: step \"a\" is missing required key \"command\""}));
}

TEST(Compiler, InvalidNames) {
  EXPECT_EQ(errors(kHead + "  - {name: a.b, topic: \"orders commands\", command: C}\n"),
            (V{"s.yaml:4:12: error: step name \"a.b\" may only use letters, digits, '-' and '_' (at most 128)",
               "s.yaml:4:24: error: topic \"orders commands\" is not a valid Kafka topic name: use letters, "
               "digits, '.', '_' and '-' (at most 249)"}));
}

TEST(Compiler, RetryPolicyRules) {
  EXPECT_EQ(errors(kHead + "  - name: a\n    topic: t\n    command: C\n"
                           "    retry: {max_attempts: 0, backoff: linear}\n"
                           "  - name: b\n    topic: t\n    command: C\n"
                           "    retry: {initial: 10s, max: 5s}\n"),
            (V{"s.yaml:7:27: error: \"max_attempts\" of the retry policy of step \"a\" (or \"forever\") must be "
               "an integer from 1 to 1000000, got \"0\"",
               "s.yaml:7:39: error: backoff must be fixed or exponential, got \"linear\"",
               "s.yaml:11:12: error: in the retry policy of step \"b\", initial delay 10s is longer than max 5s; "
               "raise max or lower initial"}));
}

TEST(Compiler, CompensationStrategyMustBeSequentialOrParallel) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\ncompensation: {strategy: reverse}\n"
                   "steps: [{name: a, topic: t, command: C}]\n"),
            V{"s.yaml:3:26: error: strategy must be sequential or parallel, got \"reverse\""});
}

TEST(Compiler, TemplateRootsAreChecked) {
  EXPECT_EQ(errors(kHead + "  - name: a\n    topic: t\n    command: C\n"
                           "    payload:\n      x: ${env.HOME}\n      y: ${saga.owner}\n      z: ${steps.a}\n"),
            (V{"s.yaml:8:10: error: unknown template root \"env\" in ${env.HOME}: use input.*, saga.id, "
               "saga.name, saga.version or steps.<name>.reply|request.*",
               "s.yaml:9:10: error: unknown saga field in ${saga.owner}; use saga.id, saga.name or "
               "saga.version; fields are: id, name, version",
               "s.yaml:10:10: error: bad step reference ${steps.a}: write steps.<name>.reply.<path> or "
               "steps.<name>.request.<path>"}));
}

TEST(Compiler, TemplateSyntaxErrorPointsAtTheString) {
  EXPECT_EQ(errors(kHead + "  - name: a\n    topic: t\n    command: C\n    payload: {x: \"${input.y\"}\n"),
            V{"s.yaml:7:18: error: unterminated template \"${input.y\": add the closing '}' (write $${ for a "
              "literal ${)"});
}

TEST(Compiler, TemplateMayNotReferenceAnUnknownStep) {
  EXPECT_EQ(errors(kHead + "  - {name: charge, topic: t, command: C}\n"
                           "  - {name: b, topic: t, command: C, payload: {x: \"${steps.charje.reply.id}\"}}\n"),
            V{"s.yaml:5:50: error: ${steps.charje.reply.id} references unknown step \"charje\" (did you mean "
              "\"charge\"?)"});
}

TEST(Compiler, TemplateMayNotReferenceALaterStep) {
  EXPECT_EQ(errors(kHead + "  - {name: a, topic: t, command: C, payload: {x: \"${steps.b.reply.id}\"}}\n"
                           "  - {name: b, topic: t, command: C}\n"),
            V{"s.yaml:4:50: error: ${steps.b.reply.id}: step \"b\" runs after \"a\"; a template can only use "
              "steps that ran before it"});
}

TEST(Compiler, TemplateMayNotReferenceASiblingInTheSameGroup) {
  EXPECT_EQ(errors(kHead + "  - parallel:\n      name: g\n      steps:\n"
                           "        - {name: a, topic: t, command: C}\n"
                           "        - {name: b, topic: t, command: C, when: \"${steps.a.reply.ok}\"}\n"),
            V{"s.yaml:8:49: error: ${steps.a.reply.ok}: step \"a\" is in the same parallel group \"g\" as \"b\"; "
              "members of a group run at the same time, so use a step before the group"});
}

TEST(Compiler, OwnReplyOnlyInsideTheCompensation) {
  EXPECT_EQ(errors(kHead + "  - name: a\n    topic: t\n    command: C\n"
                           "    payload: {x: \"${steps.a.request.y}\"}\n"
                           "    compensation: {command: U, payload: {id: \"${steps.a.reply.id}\"}}\n"),
            V{"s.yaml:7:18: error: ${steps.a.request.y}: step \"a\" cannot use its own request before it is "
              "sent; only its compensation can"});
}

TEST(Compiler, AtMostOnePivot) {
  EXPECT_EQ(errors(kHead + "  - {name: a, topic: t, command: C, pivot: true}\n"
                           "  - {name: b, topic: t, command: C, pivot: true}\n"),
            V{"s.yaml:5:37: error: only one step may be the pivot; \"a\" already is (at 4:37)"});
}

TEST(Compiler, PivotHasNoCompensation) {
  EXPECT_EQ(errors(kHead + "  - name: a\n    topic: t\n    command: C\n    pivot: true\n"
                           "    compensation: {command: U}\n"),
            V{"s.yaml:8:5: error: the pivot step \"a\" cannot have a compensation: once it succeeds there is no "
              "going back"});
}

TEST(Compiler, StepsAfterThePivotHaveNoCompensation) {
  EXPECT_EQ(errors(kHead + "  - {name: a, topic: t, command: C, pivot: true}\n"
                           "  - name: b\n    topic: t\n    command: C\n    compensation: {command: U}\n"),
            V{"s.yaml:8:5: error: step \"b\" comes after the pivot \"a\" and cannot have a compensation: steps "
              "after the pivot are retried until they succeed"});
}

TEST(Compiler, PivotCannotBeInsideAGroup) {
  EXPECT_EQ(errors(kHead + "  - parallel:\n      name: g\n      steps:\n"
                           "        - {name: a, topic: t, command: C, pivot: true}\n"),
            V{"s.yaml:7:43: error: the pivot cannot be inside a parallel group (parallel group \"g\"); make it a "
              "step of its own"});
}

TEST(Compiler, ParallelGroupsCannotNest) {
  EXPECT_EQ(errors(kHead + "  - parallel:\n      name: g\n      steps:\n"
                           "        - parallel: {name: h, steps: [{name: a, topic: t, command: C}]}\n"
                           "        - {name: b, topic: t, command: C}\n"),
            V{"s.yaml:7:11: error: parallel groups cannot be nested; list the steps of parallel group \"g\" "
              "directly"});
}

TEST(Compiler, GroupItemHasOnlyTheParallelKey) {
  EXPECT_EQ(errors(kHead + "  - parallel: {name: g, steps: [{name: a, topic: t, command: C}]}\n    name: g\n"),
            V{"s.yaml:5:5: error: unexpected key \"name\" beside \"parallel\"; put the group's name and steps "
              "under parallel:"});
}

TEST(Compiler, WhenMustBeOneTemplate) {
  EXPECT_EQ(errors(kHead + "  - {name: a, topic: t, command: C, when: \"express ${input.x}\"}\n"),
            V{"s.yaml:4:43: error: \"when\" of step \"a\" must be one template such as ${input.express}, or "
              "true/false"});
}

TEST(Compiler, OneSagaPerFile) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\nsteps: [{name: a, topic: t, command: C}]\n---\nsaga: t\n"),
            V{"s.yaml:4:1: error: one saga per file: a second YAML document starts here; move it to its own "
              "file"});
  // a leading document marker is fine
  EXPECT_EQ(errors("---\napiVersion: saga/v1\nsaga: s\nsteps: [{name: a, topic: t, command: C}]\n"), V{});
}

TEST(Compiler, ControlCharactersAreRefusedWithTheirPosition) {
  EXPECT_EQ(errors(std::string("apiVersion: saga/v1\nsaga: s\0x\n", 30)),
            V{"s.yaml:2:8: error: control character 0x00 in the file: YAML text may not contain control "
              "characters"});
}

TEST(Compiler, InputSchemaRules) {
  EXPECT_EQ(errors("apiVersion: saga/v1\nsaga: s\ninput:\n  type: obj\n  properties:\n"
                   "    a: {type: number, minimum: 5, maximum: 1}\n    b: {pattern: \"([a-z\"}\n"
                   "    c: {format: email}\nsteps: [{name: a, topic: t, command: C}]\n"),
            (V{"s.yaml:4:9: error: unknown type \"obj\" in the input schema (did you mean \"object\"?)",
               "s.yaml:6:32: error: minimum is greater than maximum in the input schema at $.a",
               "s.yaml:7:18: error: invalid pattern \"([a-z\": Unexpected character within '[...]' in regular "
               "expression (ECMAScript syntax, no backreferences)",
               "s.yaml:8:9: error: unknown key \"format\" in the input schema at $.c; allowed keys: type, required, "
               "properties, additionalProperties, items, enum, minimum, maximum, minLength, maxLength, pattern, title, description"}));
}

TEST(Compiler, AllErrorsAreReportedInOneRunSortedByPosition) {
  auto d = errors("apiVersion: saga/v1\nsaga: s\ndeadline: soon\nsteps:\n"
                  "  - {name: a, topic: t, command: C, payload: {x: \"${steps.zzz.reply}\"}}\n"
                  "  - {name: b, topic: t, command: C, timeout: never}\n"
                  "  - {name: c, topic: \"bad topic\", command: C, retries: 3}\n");
  EXPECT_EQ(d, (V{"s.yaml:3:11: error: bad duration \"soon\" for \"deadline\" of the saga: use a number with ms, s, "
                  "m, h or d, e.g. 500ms, 10s, 2m, 1h, 7d",
                  "s.yaml:5:50: error: ${steps.zzz.reply} references unknown step \"zzz\"",
                  "s.yaml:6:46: error: bad duration \"never\" for \"timeout\" of step \"b\": use a number with ms, "
                  "s, m, h or d, e.g. 500ms, 10s, 2m, 1h, 7d",
                  "s.yaml:7:22: error: topic \"bad topic\" is not a valid Kafka topic name: use letters, digits, "
                  "'.', '_' and '-' (at most 249)",
                  "s.yaml:7:47: error: unknown key \"retries\" in step \"c\"; allowed keys: name, topic, command, "
                  "payload, timeout, retry, compensation, pivot, when"}));
}

TEST(Compiler, StrictWarningForAStepWithoutCompensationBeforeThePivot) {
  EXPECT_EQ(diags(kHead + "  - {name: a, topic: t, command: C}\n"
                          "  - {name: b, topic: t, command: C, pivot: true}\n"
                          "  - {name: c, topic: t, command: C}\n"),
            V{"s.yaml:4:12: warning: step \"a\" has no compensation: if a later step fails, nothing undoes it "
              "(fine if it changes nothing)"});
}

TEST(Compiler, AliasBombIsRefusedNotExpanded) {
  std::string yaml = "apiVersion: saga/v1\nsaga: s\nx0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
  for (int i = 1; i < 9; ++i) {
    yaml += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) yaml += std::string(j ? ", " : "") + "*a" + std::to_string(i - 1);
    yaml += "]\n";
  }
  yaml += "steps: [{name: a, topic: t, command: C, payload: *a8}]\n";
  auto d = errors(yaml);
  ASSERT_FALSE(d.empty());
  bool budget = false;
  for (const auto& line : d) budget = budget || line.find("expands to more than 100000 nodes") != std::string::npos;
  EXPECT_TRUE(budget);
}

TEST(Compiler, ADocumentOverTheNodeLimitIsRefusedBeforeItIsBuilt) {
  std::string yaml = kHead + "  - name: a\n    topic: t\n    command: C\n    payload:\n";
  for (int i = 0; i < 60'000; ++i) yaml += "      k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
  auto d = errors(yaml);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].find("the document has more than 100000 nodes"), std::string::npos) << d[0];
  EXPECT_EQ(d[0].rfind("s.yaml:", 0), 0u) << "with the position where the limit was passed: " << d[0];
}

// Large mappings are checked for duplicate keys in linear time (a hash of the keys seen);
// this checks that the large path still finds the duplicate, wherever it is.
TEST(Compiler, ADuplicateKeyInALargePayloadOrSchemaIsFound) {
  std::string payload = kHead + "  - name: a\n    topic: t\n    command: C\n    payload:\n";
  for (int i = 0; i < 20'000; ++i) payload += "      k" + std::to_string(i) + ": 1\n";
  payload += "      k17: 2\n";
  auto d = errors(payload);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].find("duplicate key \"k17\" in payload"), std::string::npos) << d[0];
  std::string schema = "apiVersion: saga/v1\nsaga: s\ninput:\n  type: object\n  enum:\n    - ";
  for (int i = 0; i < 20'000; ++i) schema += std::string(i ? "      " : "") + "k" + std::to_string(i) + ": 1\n";
  schema += "      k5: 2\nsteps: [{name: a, topic: t, command: C}]\n";
  bool found = false;
  for (const auto& line : errors(schema)) found = found || line.find("duplicate key \"k5\"") != std::string::npos;
  EXPECT_TRUE(found);
}

TEST(Compiler, DeepNestingIsAnErrorNotACrash) {
  std::string payload(5000, '[');
  auto d = errors(kHead + "  - {name: a, topic: t, command: C, payload: " + payload + "}\n");
  ASSERT_FALSE(d.empty());
}

TEST(Compiler, BuildsTheDefinitionWithDefaultsMerged) {
  auto def = ok(R"(apiVersion: saga/v1
saga: shop.orders
version: 4
defaults:
  timeout: 7s
  retry: {max_attempts: 5, backoff: fixed, initial: 100ms, max: 2s, jitter: false}
compensation:
  strategy: parallel
  retry: {max_attempts: 9}
deadline: 2h
steps:
  - name: a
    topic: t.a
    command: A
    retry: {max_attempts: 2}
    compensation: {command: UndoA, timeout: 1s}
  - parallel:
      name: g
      steps:
        - {name: b, topic: t.b, command: B, compensation: {command: UndoB, topic: t.undo, retry: {max_attempts: forever}}}
        - {name: c, topic: t.c, command: C, when: "${input.c}"}
  - {name: p, topic: t.p, command: P, pivot: true}
  - {name: d, topic: t.d, command: D, retry: {max_attempts: forever}}
)");
  ASSERT_TRUE(def);
  EXPECT_EQ(def->name, "shop.orders");
  EXPECT_EQ(def->version, 4);
  EXPECT_EQ(def->reply_topic, "shop.orders.replies");
  EXPECT_EQ(def->deadline, sagas::Millis(7200000));
  EXPECT_EQ(def->compensation_strategy, sagas::CompensationStrategy::parallel);
  ASSERT_EQ(def->steps.size(), 5u);
  ASSERT_EQ(def->stages.size(), 4u);
  EXPECT_EQ(def->stages[1].steps.size(), 2u);
  ASSERT_EQ(def->groups.size(), 1u);
  EXPECT_EQ(def->groups[0].name, "g");
  EXPECT_EQ(def->pivot, sagas::StepIndex(3));

  const auto& a = def->steps[0];
  EXPECT_EQ(a.execute.timeout, sagas::Millis(7000));
  sagas::RetryPolicy a_retry{2, sagas::Backoff::fixed, sagas::Millis(100), sagas::Millis(2000), false};
  EXPECT_EQ(a.execute.retry, a_retry);  // only max_attempts overridden
  ASSERT_TRUE(a.compensation);
  EXPECT_EQ(a.compensation->topic, "t.a");  // defaults to the step's topic
  EXPECT_EQ(a.compensation->timeout, sagas::Millis(1000));
  EXPECT_EQ(a.compensation->retry.max_attempts, 9u);

  const auto& b = def->steps[1];
  EXPECT_EQ(b.group, sagas::GroupIndex(0));
  EXPECT_EQ(b.compensation->topic, "t.undo");
  EXPECT_TRUE(b.compensation->retry.forever());
  EXPECT_EQ(b.compensation->timeout, sagas::Millis(7000));  // the step's timeout
  EXPECT_TRUE(def->steps[2].when.has_value());
  EXPECT_FALSE(def->steps[2].retriable);
  EXPECT_TRUE(def->steps[3].pivot);
  EXPECT_FALSE(def->steps[3].retriable);
  EXPECT_TRUE(def->steps[4].retriable);
  EXPECT_TRUE(def->steps[4].execute.retry.forever());
}

TEST(Compiler, BuiltInDefaults) {
  auto def = ok(kHead + "  - {name: a, topic: t, command: C}\n");
  ASSERT_TRUE(def);
  EXPECT_EQ(def->version, 1);
  EXPECT_EQ(def->reply_topic, "s.replies");
  EXPECT_EQ(def->compensation_strategy, sagas::CompensationStrategy::sequential);
  EXPECT_FALSE(def->deadline.has_value());
  const auto& a = def->steps[0];
  EXPECT_EQ(a.execute.timeout, sagas::Millis(30000));
  sagas::RetryPolicy expected{3, sagas::Backoff::exponential, sagas::Millis(1000), sagas::Millis(30000), true};
  EXPECT_EQ(a.execute.retry, expected);
  EXPECT_EQ(a.execute.payload.literal_value()->dump(), "{}");
}

TEST(Loader, SameSagaVersionInTwoFilesIsAnError) {
  auto dir = std::filesystem::temp_directory_path() / ("sagactl-loader-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const char* f : {"a.yaml", "b.yml"}) {
    std::ofstream(dir / f) << kHead << "  - {name: a, topic: t, command: C}\n";
  }
  std::ofstream(dir / "notes.txt") << "not a saga";
  auto r = dsl::load({dir});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.files, 2u);
  std::vector<dsl::Diagnostic> errs;
  for (const auto& d : r.diagnostics) {
    if (d.severity == dsl::Severity::error) errs.push_back(d);
  }
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(dsl::format(errs[0]),
            (dir / "b.yml").string() + ":2:7: error: saga \"s\" version 1 is already defined at " +
                (dir / "a.yaml").string() + ":2:7; bump version or rename one of them");
  EXPECT_EQ(r.definitions.size(), 1u);
}

TEST(Loader, MissingPathIsAnError) {
  auto r = dsl::load({"/nonexistent/saga.yaml"});
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(dsl::format(r.diagnostics[0]), "/nonexistent/saga.yaml: error: no such file or directory");
}

}  // namespace
