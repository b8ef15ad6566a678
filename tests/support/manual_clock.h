// ManualClock: the engine's Clock for tests. Time stands still until a test moves it; no test
// sleeps to let a timer fire. Used on the engine's executor only, like every Clock.
#pragma once

#include <functional>
#include <optional>

#include "engine/clock.h"

namespace testing_support {

using sagas::TimeMs;

// Time stands still until advance(): then a due wake-up is posted to the io_context (run it
// with poll() to see its effects).
class ManualClock final : public engine::Clock {
 public:
  ManualClock(boost::asio::io_context& io, TimeMs start = 1'700'000'000'000);
  TimeMs now() const override { return now_; }
  void wake_at(TimeMs at, std::function<void()> wake) override;
  void cancel() override;

  void advance(TimeMs ms) { set(now_ + ms); }
  void set(TimeMs now);
  // When the engine next wants to wake, if it does.
  std::optional<TimeMs> next_wake() const { return wake_ ? std::optional<TimeMs>(at_) : std::nullopt; }
  // Used when the io_context it posted to is gone (a test's simulated crash).
  void rebind(boost::asio::io_context& io) { io_ = &io; }

 private:
  boost::asio::io_context* io_;
  TimeMs now_;
  TimeMs at_ = 0;
  std::function<void()> wake_;
};

}  // namespace testing_support
