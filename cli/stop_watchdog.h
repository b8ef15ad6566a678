// StopWatchdog: the last resort that makes every stop bounded.
//
// A stop is asked for (SIGTERM/SIGINT) and proceeds in order: commit what is pending, flush,
// leave the consumer group, destroy the clients, each step against the same deadline. Should
// anything still block (a database that does not answer, a library call with no timeout of
// its own), arm() has started a thread that ends the process at the deadline plus a grace,
// logging what it was waiting for. Ending there is safe: what was acknowledged is committed,
// and what was not delivered is in the journal's outbox, sent at the next start.
//
// Thread-safe. Disarmed by its destructor (or disarm()), so a stop that finishes in time exits
// the normal way.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace cli {

class StopWatchdog {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  // Past the deadline the orderly steps have given up on their own; this is how long they
  // may take to notice before the process is ended for them.
  static constexpr std::chrono::milliseconds kGrace{3'000};

  StopWatchdog() = default;
  ~StopWatchdog();
  StopWatchdog(const StopWatchdog&) = delete;
  StopWatchdog& operator=(const StopWatchdog&) = delete;

  // Starts the countdown (once; later calls are ignored) and returns the deadline the orderly
  // steps should keep. `what` names the process in the log line.
  Deadline arm(std::chrono::milliseconds timeout, std::string what);
  void disarm();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool disarmed_ = false;
  Deadline deadline_{};
  std::thread thread_;
};

}  // namespace cli
