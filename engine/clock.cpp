#include "engine/clock.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace engine {

struct SystemClock::Impl {
  explicit Impl(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
  std::uint64_t generation = 0;  // a replaced wait's handler may already be queued
};

SystemClock::SystemClock(boost::asio::io_context& io) : impl_(std::make_unique<Impl>(io)) {}
SystemClock::~SystemClock() = default;

TimeMs SystemClock::now() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SystemClock::wake_at(TimeMs at, std::function<void()> wake) {
  std::uint64_t gen = ++impl_->generation;
  // Steady time for the wait, so a wall-clock step does not stall or rush timers.
  impl_->timer.expires_after(std::chrono::milliseconds(std::max<TimeMs>(0, at - now())));
  impl_->timer.async_wait([this, gen, wake = std::move(wake)](const boost::system::error_code& ec) {
    if (!ec && gen == impl_->generation) wake();
  });
}

void SystemClock::cancel() {
  ++impl_->generation;
  impl_->timer.cancel();
}

}  // namespace engine
