// Golden tests of `graph` output for the example sagas. To accept a deliberate change:
//   UPDATE_GOLDEN=1 build/tests/unit_tests --gtest_filter='Graph*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dsl/compiler.h"
#include "dsl/graph.h"

namespace {

const std::string kRoot = SAGACTL_SOURCE_DIR;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void expect_golden(const std::string& example, dsl::GraphFormat format, const std::string& ext) {
  auto r = dsl::compile_file(kRoot + "/examples/sagas/" + example + ".yaml");
  ASSERT_TRUE(r.ok());
  std::string actual = dsl::render_graph(*r.definition, format);
  std::string golden = kRoot + "/tests/golden/" + example + "." + ext;
  if (std::getenv("UPDATE_GOLDEN") != nullptr) std::ofstream(golden) << actual;
  EXPECT_EQ(actual, read(golden)) << "golden file " << golden;
}

class Graph : public ::testing::TestWithParam<std::string> {};

TEST_P(Graph, DotMatchesGolden) { expect_golden(GetParam(), dsl::GraphFormat::dot, "dot"); }
TEST_P(Graph, MermaidMatchesGolden) { expect_golden(GetParam(), dsl::GraphFormat::mermaid, "mmd"); }

INSTANTIATE_TEST_SUITE_P(Examples, Graph,
                         ::testing::Values("order-fulfilment", "travel-booking", "money-transfer"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::erase(name, '-');
                           return name;
                         });

sagas::DefinitionPtr compile(const std::string& yaml) {
  auto r = dsl::compile(yaml, "g.yaml");
  EXPECT_TRUE(r.ok());
  return r.definition;
}

TEST(GraphShape, SequentialCompensationUnwindsInReverseThroughGroups) {
  auto def = compile(R"(apiVersion: saga/v1
saga: g
steps:
  - {name: a, topic: t, command: A, compensation: {command: UA}}
  - parallel:
      name: grp
      steps:
        - {name: b, topic: t, command: B, compensation: {command: UB}}
        - {name: c, topic: t, command: C, compensation: {command: UC}}
  - {name: d, topic: t, command: D}
)");
  std::string dot = dsl::render_graph(*def, dsl::GraphFormat::dot);
  // both group compensations lead to a's, which leads to the end
  EXPECT_NE(dot.find("c1 -> c0 [style=dashed];"), std::string::npos) << dot;
  EXPECT_NE(dot.find("c2 -> c0 [style=dashed];"), std::string::npos) << dot;
  EXPECT_NE(dot.find("c0 -> compensated [style=dashed];"), std::string::npos) << dot;
  // d has no compensation: its failure starts with the group's
  EXPECT_NE(dot.find("s3 -> c1 [style=dashed, color=red, label=\"fails\"];"), std::string::npos) << dot;
  EXPECT_NE(dot.find("subgraph cluster_g0"), std::string::npos) << dot;
}

TEST(GraphShape, LabelsAreEscaped) {
  auto def = compile(R"(apiVersion: saga/v1
saga: g
steps:
  - {name: a, topic: t, command: "Say\"Hi\"", when: "${input.x}"}
)");
  EXPECT_NE(dsl::render_graph(*def, dsl::GraphFormat::dot).find(R"(Say\"Hi\")"), std::string::npos);
  EXPECT_NE(dsl::render_graph(*def, dsl::GraphFormat::mermaid).find("Say#quot;Hi#quot;"), std::string::npos);
}

}  // namespace
