#include "cli/stop_watchdog.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace cli {

StopWatchdog::~StopWatchdog() { disarm(); }

StopWatchdog::Deadline StopWatchdog::arm(std::chrono::milliseconds timeout, std::string what) {
  std::lock_guard lock(mu_);
  if (armed_) return deadline_;
  armed_ = true;
  deadline_ = std::chrono::steady_clock::now() + timeout;
  thread_ = std::thread([this, timeout, what = std::move(what)] {
    std::unique_lock waiting(mu_);
    if (cv_.wait_until(waiting, deadline_ + kGrace, [this] { return disarmed_; })) return;
    spdlog::error("{}: the stop took longer than shutdown_timeout ({} ms) and is cut short; what was not delivered "
                  "stays in the outbox and is sent at the next start", what, timeout.count());
    spdlog::default_logger_raw()->flush();
    std::_Exit(0);  // nothing acknowledged is lost: a stop, not a failure
  });
  return deadline_;
}

void StopWatchdog::disarm() {
  {
    std::lock_guard lock(mu_);
    disarmed_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace cli
