#include "kafka/shutdown.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <thread>

namespace kafka {

namespace {

// The slice a wait loop polls in, so a deadline is never overrun by more than this.
constexpr int kPollSliceMs = 100;

int ms_until(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

}  // namespace

int flush_by(rd_kafka_t* producer, Deadline deadline) {
  rd_kafka_flush(producer, ms_until(deadline));
  int left = rd_kafka_outq_len(producer);
  if (left > 0) rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  return left;
}

bool close_consumer_by(rd_kafka_t* consumer, Deadline deadline) {
  QueuePtr queue(rd_kafka_queue_new(consumer));
  if (rd_kafka_error_t* e = rd_kafka_consumer_close_queue(consumer, queue.get())) {
    spdlog::warn("kafka: closing the consumer failed: {}", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return false;
  }
  while (!rd_kafka_consumer_closed(consumer)) {
    int left = ms_until(deadline);
    if (left == 0) return false;
    rd_kafka_queue_poll_callback(queue.get(), std::min(left, kPollSliceMs));
  }
  return true;
}

void destroy_by(HandlePtr handle, Deadline deadline, const char* what) {
  rd_kafka_t* rk = handle.release();
  if (rk == nullptr) return;
  std::packaged_task<void()> task([rk] { rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE); });
  std::future<void> done = task.get_future();
  std::thread destroyer(std::move(task));
  Deadline at_least = std::chrono::steady_clock::now() + kMinDestroyWait;
  if (done.wait_until(std::max(deadline, at_least)) == std::future_status::ready) {
    destroyer.join();
    return;
  }
  destroyer.detach();
  spdlog::warn("kafka: the {} did not stop by the shutdown deadline (brokers unreachable?); not waiting for it", what);
}

}  // namespace kafka
