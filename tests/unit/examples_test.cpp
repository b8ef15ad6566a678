// Every example saga compiles, and each shows the features it is there to show.
#include <gtest/gtest.h>

#include <map>

#include "dsl/loader.h"

namespace {

TEST(Examples, AllCompileWithoutErrors) {
  auto r = dsl::load({std::string(SAGACTL_SOURCE_DIR) + "/examples/sagas"});
  for (const auto& d : r.diagnostics) {
    if (d.severity == dsl::Severity::error) ADD_FAILURE() << dsl::format(d);
  }
  ASSERT_EQ(r.definitions.size(), 3u);
  std::map<std::string, sagas::DefinitionPtr> by_name;
  for (const auto& def : r.definitions) by_name[def->name] = def;

  const auto& order = *by_name.at("order-fulfilment");
  EXPECT_EQ(order.version, 2);
  EXPECT_EQ(order.groups.size(), 1u);
  EXPECT_EQ(order.step(*order.pivot).name, "confirm-order");
  EXPECT_TRUE(order.steps.back().retriable);
  EXPECT_TRUE(order.steps.back().when.has_value());

  const auto& travel = *by_name.at("travel-booking");
  EXPECT_EQ(travel.compensation_strategy, sagas::CompensationStrategy::parallel);
  EXPECT_EQ(travel.groups.at(0).members.size(), 3u);

  const auto& transfer = *by_name.at("money-transfer");
  EXPECT_EQ(transfer.step(*transfer.pivot).name, "clear");
  EXPECT_TRUE(transfer.steps.back().retriable);
  EXPECT_TRUE(transfer.steps.back().execute.retry.forever());
}

}  // namespace
