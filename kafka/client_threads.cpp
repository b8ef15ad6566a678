// KafkaTransport's threads: librdkafka's callbacks (errors, logs, delivery reports) and the
// producer's and consumer's pollers, which hand what they get to the executor in batches.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "kafka/transport_impl.h"

namespace kafka {

namespace {

wire::Message to_message(const rd_kafka_message_t* m) {
  wire::Message out;
  out.topic = rd_kafka_topic_name(m->rkt);
  out.partition = m->partition;
  if (m->key) out.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload) out.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      out.headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : std::string());
    }
  }
  return out;
}

}  // namespace

void KafkaTransport::Impl::mark_up(bool now_up) {
  up = now_up;
  if (now_up) {
    if (down_since_ms.exchange(0) != 0) spdlog::info("kafka: brokers {} answer again", options.brokers);
    return;
  }
  std::int64_t expected = 0;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch()).count();
  if (down_since_ms.compare_exchange_strong(expected, now)) {
    spdlog::warn("kafka: brokers {} unreachable; retrying until they answer", options.brokers);
  }
}

void KafkaTransport::Impl::on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->mark_up(false);
  // A connection that failed is retried by the client, and said by mark_up when it matters.
  bool connection = err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT;
  spdlog::log(connection ? spdlog::level::debug : spdlog::level::warn, "kafka: {} ({})", reason,
              rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
}

void KafkaTransport::Impl::on_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  auto id = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(m->_private));
  std::string error = m->err ? rd_kafka_err2str(m->err) : "";
  if (id == 0) {
    if (!error.empty()) spdlog::warn("kafka: publishing to {} failed: {}", rd_kafka_topic_name(m->rkt), error);
    return;
  }
  if (error.empty()) self->mark_up(true);
  std::lock_guard lock(self->reports_mu);
  self->reports.push_back({id, std::move(error), m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE});
}

void KafkaTransport::Impl::on_log(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  auto lvl = level <= 3 ? spdlog::level::err : level <= 5 ? spdlog::level::warn : spdlog::level::debug;
  if (std::string_view(fac) == "FAIL") lvl = spdlog::level::debug;  // a failed connection: see mark_up
  spdlog::log(lvl, "kafka: {} {}", fac, buf);
}

void KafkaTransport::Impl::post_reports() {
  std::vector<wire::Delivery> batch;
  {
    std::lock_guard lock(reports_mu);
    batch.swap(reports);
  }
  if (batch.empty()) return;
  boost::asio::post(io, [this, alive = alive, batch = std::move(batch)]() mutable {
    if (*alive && !closed && on_delivery) on_delivery(std::move(batch));
  });
}

void KafkaTransport::Impl::run_producer_poller() {
  while (!stopping) {
    rd_kafka_poll(producer.get(), 100);
    post_reports();
  }
}

void KafkaTransport::Impl::run_consumer_poller() {
  while (!stopping) {
    rd_kafka_message_t* first = rd_kafka_consumer_poll(consumer.get(), kIdlePollMs);
    if (first == nullptr) {
      post_passed_barriers();
      continue;
    }
    // Built here as the engine receives them (tokens are given on the executor), so the
    // executor takes the batch as it is: no second vector of hundreds of messages there.
    std::vector<wire::Received> batch;
    for (rd_kafka_message_t* m = first; m != nullptr;
         m = batch.size() < 1000 ? rd_kafka_consumer_poll(consumer.get(), 0) : nullptr) {
      kafka::MessagePtr owned(m);
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          spdlog::warn("kafka: consumer: {}", rd_kafka_message_errstr(m));
        }
        continue;
      }
      mark_up(true);
      catch_up->delivered(rd_kafka_topic_name(m->rkt), m->partition, m->offset);
      batch.push_back({to_message(m), 0, wire::Origin{m->offset, rd_kafka_message_timestamp(m, nullptr)}});
    }
    if (!batch.empty()) {
      boost::asio::post(io, [this, alive = alive, batch = std::move(batch)]() mutable {
        if (*alive && !closed) deliver(std::move(batch));
      });
    }
    post_passed_barriers();
  }
}

void KafkaTransport::Impl::post_passed_barriers() {
  auto passed = catch_up->service();
  for (auto& done : group_barrier->service()) passed.push_back(std::move(done));
  if (passed.empty()) return;
  boost::asio::post(io, [this, alive = alive, passed = std::move(passed)] {
    if (!*alive || closed) return;
    for (const auto& done : passed) done();
  });
}

void KafkaTransport::Impl::stop_pollers() {
  stopping = true;
  if (producer_queue) rd_kafka_queue_yield(producer_queue.get());
  if (consumer_queue) rd_kafka_queue_yield(consumer_queue.get());
  if (producer_poller.joinable()) producer_poller.join();
  if (consumer_poller.joinable()) consumer_poller.join();
}

}  // namespace kafka
