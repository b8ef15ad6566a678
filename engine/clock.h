// Clock: the engine's only source of time, injected so that tests move time by hand instead
// of sleeping. The engine keeps its own queue of timers (attempt timeouts, backoffs,
// deadlines, retention) and asks the clock for one wake-up at the earliest of them.
//
// SystemClock wakes through an Asio timer on the engine's io_context; ManualClock wakes only
// when a test advances it. Both are used on the engine's executor only.
#pragma once

#include <functional>
#include <memory>
#include <optional>

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

// Time stands still until advance(): then a due wake-up is posted to the io_context (run it
// with poll() to see its effects).
class ManualClock final : public Clock {
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

}  // namespace engine
