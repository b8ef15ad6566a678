// The runnable examples run as documented: the embedded-engine demo completes one order and
// compensates the other, on a real SQLite file, and prints their histories.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/e2e/process.h"

namespace {

TEST(Examples, EmbeddedOrderDemoCompletesOneSagaAndCompensatesTheOther) {
  auto state = std::filesystem::temp_directory_path() / ("sagactl-demo-" + std::to_string(::getpid()) + ".db");
  auto r = testing_support::run_process({EMBEDDED_DEMO_BIN, "--state", state.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("order-1  order-fulfilment v2  completed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("order-2  order-fulfilment v2  compensated  error: step \"charge-card\" failed: card declined"),
            std::string::npos)
      << r.out;
  // order-2's undo ran in reverse: the invoice (its group sibling), then the stock.
  auto invoice = r.out.find("step-compensated           create-invoice");
  auto stock = r.out.find("step-compensated           reserve-stock");
  ASSERT_NE(invoice, std::string::npos);
  ASSERT_NE(stock, std::string::npos);
  EXPECT_LT(invoice, stock);
  EXPECT_TRUE(std::filesystem::exists(state));
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(state.string() + suffix);
}

}  // namespace
