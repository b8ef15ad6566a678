// Sagas over the real Kafka protocol: the orchestrator (engine + KafkaTransport + SQLite)
// and participant services (saga::Participant) talk through the development broker.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/integration/kafka_world.h"

namespace kafka_test {
namespace {

TEST(Kafka, ASagaCompletesAcrossTheBroker) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-1", "order-1");
  EXPECT_EQ(w.finish(id), SagaState::completed);
  for (const char* step : {"reserve", "pay", "invoice", "confirm"}) {
    EXPECT_EQ(w.calls("order-1/" + std::string(step) + "/execute"), 1) << step;
  }
  // The commands carried every header of SPEC §3.
  auto it = std::find_if(w.handled.begin(), w.handled.end(), [](const Command& c) { return c.step == "reserve"; });
  ASSERT_NE(it, w.handled.end());
  EXPECT_EQ(it->saga, "shop");
  EXPECT_EQ(it->attempt, 1u);
  EXPECT_EQ(it->idempotency_key, "order-1/reserve/execute");
  EXPECT_EQ(it->payload.dump(), R"({"order":"o-1"})");
}

}  // namespace
}  // namespace kafka_test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new kafka_test::SharedBroker);
  return RUN_ALL_TESTS();
}
