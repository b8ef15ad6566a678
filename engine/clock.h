// Clock: the engine's only source of time, injected so that tests move time by hand instead
// of sleeping. The engine keeps its own queue of timers (attempt timeouts, backoffs,
// deadlines, retention) and asks the clock for one wake-up at the earliest of them.
//
// SystemClock wakes through an Asio timer on the engine's io_context; the tests' ManualClock
// (tests/support/manual_clock.h) wakes only when a test advances it. Both are used on the
// engine's executor only.
#pragma once

#include <functional>
#include <memory>

#include "sagas/instance.h"

namespace boost::asio {
class io_context;
}

namespace engine {

using sagas::TimeMs;

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual TimeMs now() const = 0;
  // Calls `wake` on the executor once, at or after `at`. A later call replaces the earlier
  // one; `cancel` drops it.
  virtual void wake_at(TimeMs at, std::function<void()> wake) = 0;
  virtual void cancel() = 0;
};

class SystemClock final : public Clock {
 public:
  explicit SystemClock(boost::asio::io_context& io);
  ~SystemClock() override;
  TimeMs now() const override;
  void wake_at(TimeMs at, std::function<void()> wake) override;
  void cancel() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace engine
