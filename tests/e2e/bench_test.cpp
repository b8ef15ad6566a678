// saga-bench runs every scenario to the end and reports figures that add up: a smoke run
// with small numbers (the figures themselves are the benchmark's business, not a test's).
#include <gtest/gtest.h>

#include "sagas/json.h"
#include "tests/e2e/process.h"

namespace {

using sagas::Json;

double num(const Json& j, const char* key) {
  const Json* v = j.find(key);
  return v != nullptr && v->is_number() ? v->as_double() : -1;
}

TEST(Bench, EveryScenarioRunsToTheEndAndItsFiguresAddUp) {
  auto r = testing_support::run_process({SAGA_BENCH_BIN, "--json", "--sagas", "40", "--warmup", "10", "--concurrency",
                                         "8", "--latency-sagas", "5", "--scale", "20,40", "--ceiling-seconds", "0.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto all = Json::parse(r.out);
  ASSERT_TRUE(all) << r.out;
  const Json* scenarios = all->find("scenarios");
  ASSERT_TRUE(scenarios != nullptr && scenarios->is_object());
  for (const char* name : {"ceiling", "order", "order-sdk", "order-compensated", "order-in-process", "round-trip-1", "ceiling-1",
                           "order-1", "order-in-process-1", "order-20"}) {
    const Json* s = scenarios->find(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(s->find("error"), nullptr) << name << ": " << s->dump();
  }
  // Every measured saga finished, with three steps (five with the two compensations), and
  // none stayed in memory.
  for (auto [name, sagas, steps] : {std::tuple{"order", 40, 120}, {"order-sdk", 40, 120}, {"order-compensated", 40, 200},
                                    {"order-in-process", 40, 120}, {"order-1", 5, 15}, {"order-20", 20, 60}}) {
    const Json& s = *scenarios->find(name);
    EXPECT_EQ(num(s, "sagas"), sagas) << name;
    EXPECT_EQ(num(s, "steps"), steps) << name;
    EXPECT_EQ(num(*s.find("saga_latency"), "count"), sagas) << name;
    EXPECT_EQ(num(s, "active_sagas_at_end"), 0) << name;
    EXPECT_GT(num(s, "sagas_per_s"), 0) << name;
    EXPECT_GT(num(s, "peak_rss_mib"), 0) << name;
    // The orchestrator's own threads were found and measured (allocations are not counted
    // in a sanitizer's build, which owns malloc).
    EXPECT_GT(num(s, "orchestrator_cpu_us_per_step"), 0) << name;
    EXPECT_GT(num(s, "writer_cpu_us_per_step"), 0) << name;
    // Two clocks (getrusage for the process, schedstat for a thread): a tenth's slack.
    EXPECT_GE(num(s, "process_cpu_us_per_step") * 1.1, num(s, "orchestrator_cpu_us_per_step")) << name;
    if (s.find("allocations_per_step") != nullptr) {
      EXPECT_GT(num(s, "loop_allocations_per_step"), 0) << name;
      EXPECT_GT(num(s, "writer_allocations_per_step"), 0) << name;
    }
  }
  EXPECT_GE(num(*scenarios->find("ceiling"), "steps"), 120);
  const Json* summary = all->find("summary");
  ASSERT_NE(summary, nullptr);
  EXPECT_GT(num(*summary, "order_vs_ceiling"), 0);
  EXPECT_GT(num(*summary, "order-sdk_vs_ceiling"), 0);
  EXPECT_NE(summary->find("added_step_latency_p50_ms"), nullptr);
  ASSERT_EQ(all->find("scale")->as_array().size(), 2u);
}

TEST(Bench, ABadOptionIsRefusedWithUsage) {
  auto r = testing_support::run_process({SAGA_BENCH_BIN, "--sagas", "many"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--sagas"), std::string::npos) << r.err;
}

}  // namespace
