#include "kafka/transport.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "kafka/shutdown.h"
#include "kafka/transport_impl.h"

namespace kafka {

void KafkaTransport::Impl::deliver(std::vector<wire::Received> batch) {
  spdlog::debug("kafka: {} message(s) received", batch.size());
  for (auto& r : batch) {
    r.token = in_flight.received(r.message.topic, r.message.partition, r.origin->offset);
  }
  if (on_receive) on_receive(std::move(batch));
}

std::optional<KafkaTransport::Impl::ProduceError> KafkaTransport::Impl::produce(std::int64_t id, const wire::Message& m) {
  rd_kafka_headers_t* hdrs = rd_kafka_headers_new(m.headers.size());
  for (const auto& [k, v] : m.headers) {
    rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(), static_cast<ssize_t>(v.size()));
  }
  // The array form of producev: its macros are GNU statement expressions, which clang refuses
  // under -Wpedantic.
  rd_kafka_vu_t vus[7];
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = m.topic.c_str();
  vus[1].vtype = RD_KAFKA_VTYPE_KEY;
  vus[1].u.mem = {const_cast<char*>(m.key.data()), m.key.size()};
  vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[2].u.mem = {const_cast<char*>(m.value.data()), m.value.size()};
  vus[3].vtype = RD_KAFKA_VTYPE_HEADERS;
  vus[3].u.headers = hdrs;
  vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[4].u.ptr = reinterpret_cast<void*>(static_cast<std::intptr_t>(id));
  vus[5].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[5].u.i = RD_KAFKA_MSG_F_COPY;
  vus[6].vtype = RD_KAFKA_VTYPE_PARTITION;
  vus[6].u.i32 = m.partition == wire::Message::kAnyPartition ? RD_KAFKA_PARTITION_UA : m.partition;
  rd_kafka_error_t* error = rd_kafka_produceva(producer.get(), vus, 7);
  if (error == nullptr) return std::nullopt;
  ProduceError failed{rd_kafka_error_string(error), rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE};
  rd_kafka_error_destroy(error);
  rd_kafka_headers_destroy(hdrs);  // not handed over on failure
  return failed;
}


sagas::Result<std::unique_ptr<KafkaTransport>, std::string> KafkaTransport::create(boost::asio::io_context& io,
                                                                                 const KafkaOptions& options) {
  auto impl = std::make_unique<Impl>(io, options);
  auto base = [&](bool producer) -> sagas::Result<kafka::ConfPtr, std::string> {
    kafka::ConfPtr conf(rd_kafka_conf_new());
    std::vector<std::pair<std::string, std::string>> settings = {{"bootstrap.servers", options.brokers},
                                                                 {"client.id", options.client_id}};
    if (producer) {
      settings.insert(settings.end(), {{"enable.idempotence", "true"},
                                       {"acks", "all"},
                                       {"linger.ms", std::to_string(options.linger_ms)}});
    } else {
      settings.insert(settings.end(), {{"group.id", options.group_id},
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"},
                                       {"auto.offset.reset", "earliest"},
                                       {"fetch.wait.max.ms", std::to_string(options.fetch_wait_max_ms)}});
      if (options.consume == KafkaOptions::Consume::group) {
        // Defaults for shared work; kafka.properties may override each.
        settings.insert(settings.end(), {{"partition.assignment.strategy", "cooperative-sticky"},
                                         {"session.timeout.ms", std::to_string(options.session_timeout_ms)}});
        if (!options.instance_id.empty()) settings.emplace_back("group.instance.id", options.instance_id);
      }
    }
    for (const auto& [k, v] : settings) {
      if (auto err = kafka::set(conf.get(), k, v)) return *err;
    }
    if (auto err = kafka::set_properties(conf.get(), options.properties)) return *err;
    rd_kafka_conf_set_log_cb(conf.get(), &Impl::on_log);
    rd_kafka_conf_set_error_cb(conf.get(), &Impl::on_error);
    rd_kafka_conf_set_opaque(conf.get(), impl.get());
    return conf;
  };

  auto pconf = base(true);
  if (!pconf) return pconf.error();
  rd_kafka_conf_set_dr_msg_cb(pconf->get(), &Impl::on_report);
  auto producer = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(*pconf));
  if (!producer) return producer.error();
  impl->producer = std::move(*producer);

  auto cconf = base(false);
  if (!cconf) return cconf.error();
  if (options.consume == KafkaOptions::Consume::group) rd_kafka_conf_set_rebalance_cb(cconf->get(), &Impl::on_rebalance);
  // Messages are read with rd_kafka_consumer_poll, which returns them whatever this is. But the
  // close queue (kafka_shutdown.cpp) is served with callbacks, and a message fetched while the
  // consumer closes must have one there: without it librdkafka 2.0 asserts in rd_kafka_q_serve
  // ("res != RD_KAFKA_OP_RES_PASS"). Such a message is dropped unacknowledged (read again later).
  rd_kafka_conf_set_consume_cb(cconf->get(), [](rd_kafka_message_t*, void*) {});
  auto consumer = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(*cconf));
  if (!consumer) return consumer.error();
  impl->consumer = std::move(*consumer);
  rd_kafka_poll_set_consumer(impl->consumer.get());
  impl->catch_up = std::make_unique<kafka::CatchUp>(impl->consumer.get(), options.shared_partitions);
  impl->group_barrier = std::make_unique<kafka::GroupBarrier>(impl->consumer.get(), options.group_id, *impl->catch_up);

  // The first message to a topic this client has not seen waits for a topic scan: make
  // every warm topic known now, and ask for all of them in one request (probe_brokers; the
  // caller decides how long to wait for brokers that do not answer).
  for (const auto& t : options.warm_topics) {
    impl->warm_handles.emplace_back(rd_kafka_topic_new(impl->producer.get(), t.c_str(), nullptr));
  }

  impl->producer_queue.reset(rd_kafka_queue_get_main(impl->producer.get()));
  impl->consumer_queue.reset(rd_kafka_queue_get_consumer(impl->consumer.get()));
  Impl* raw = impl.get();
  // spdlog makes its registry on first use; make it here, before the pollers log from theirs.
  spdlog::default_logger_raw();
  impl->producer_poller = std::thread([raw] { raw->run_producer_poller(); });
  impl->consumer_poller = std::thread([raw] { raw->run_consumer_poller(); });
  return std::unique_ptr<KafkaTransport>(new KafkaTransport(std::move(impl)));
}

KafkaTransport::KafkaTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaTransport::~KafkaTransport() {
  shutdown(std::chrono::steady_clock::now() + std::chrono::milliseconds(impl_->options.shutdown_timeout_ms));
}

void KafkaTransport::shutdown(std::chrono::steady_clock::time_point deadline) {
  auto& d = *impl_;
  if (!d.producer) return;  // stopped already
  close();
  // The budget: three quarters for delivering what is queued, the rest for leaving the group.
  auto now = std::chrono::steady_clock::now();
  auto flush_deadline = now + (deadline - now) * 3 / 4;
  if (int unsent = kafka::flush_by(d.producer.get(), flush_deadline); unsent > 0) {
    spdlog::warn("kafka: {} message(s) left undelivered at shutdown (brokers {}); they stay in the outbox and are "
                 "sent at the next start", unsent, d.options.brokers);
  }
  d.wait_for_first_assignment(deadline);  // the consumer poller serves the rebalance meanwhile
  d.stop_pollers();
  *d.alive = false;
  if (!kafka::close_consumer_by(d.consumer.get(), deadline)) {
    spdlog::warn("kafka: the consumer did not close by the shutdown deadline (brokers {}); its acknowledged offsets "
                 "are committed again at the next start, and a group gives its partitions away after its session "
                 "timeout", d.options.brokers);
  }
  d.consumer_queue.reset();
  d.producer_queue.reset();
  kafka::destroy_by(std::move(d.consumer), deadline, "consumer");
  kafka::destroy_by(std::move(d.producer), deadline, "producer");
}

std::optional<std::string> KafkaTransport::subscribe(const std::vector<std::string>& topics) {
  if (impl_->closed) return "the transport is closed";
  std::size_t before = impl_->topics.size();
  impl_->topics.insert(topics.begin(), topics.end());
  if (impl_->topics.size() == before) return std::nullopt;
  return impl_->apply_subscription();
}

void KafkaTransport::set_handlers(wire::Transport::ReceiveHandler on_receive, wire::Transport::DeliveryHandler on_delivery) {
  impl_->on_receive = std::move(on_receive);
  impl_->on_delivery = std::move(on_delivery);
}

void KafkaTransport::send(std::int64_t outbox_id, const wire::Message& message) {
  if (impl_->closed) return;
  if (auto err = impl_->produce(outbox_id, message)) {
    // Refused locally (queue full, unknown topic, ...): report it like a failed delivery.
    boost::asio::post(impl_->io, [impl = impl_.get(), alive = impl_->alive, outbox_id, error = *err] {
      if (*alive && !impl->closed && impl->on_delivery) {
        impl->on_delivery({wire::Delivery{outbox_id, error.text, error.too_large}});
      }
    });
  }
}

void KafkaTransport::publish(const wire::Message& message) {
  if (impl_->closed) return;
  if (auto err = impl_->produce(0, message)) spdlog::warn("kafka: publishing to {} failed: {}", message.topic, err->text);
}

void KafkaTransport::acknowledge(std::span<const std::uint64_t> tokens) {
  auto& d = *impl_;
  d.advances.clear();
  d.in_flight.acknowledge(tokens, d.advances);
  kafka::ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(d.advances.size())));
  for (const auto& a : d.advances) {
    std::string topic(a.topic);
    d.add_commit(list.get(), topic, a.partition, a.next_offset);
    std::lock_guard lock(d.acked_mu);
    d.acked_next[{std::move(topic), a.partition}] = a.next_offset;
  }
  if (list->cnt > 0 && !d.closed) {
    if (auto err = rd_kafka_commit(d.consumer.get(), list.get(), 1)) {
      spdlog::warn("kafka: committing offsets failed (they are committed with the next ones): {}",
                   rd_kafka_err2str(err));
    }
  }
}

void KafkaTransport::catch_up(std::function<void()> done) {
  if (impl_->closed) return;
  impl_->catch_up->request(std::move(done));
  if (impl_->consumer_queue) rd_kafka_queue_yield(impl_->consumer_queue.get());  // look now, not after the idle poll
}

void KafkaTransport::settle(std::vector<std::string> topics, bool skip_assigned, std::function<void()> done) {
  if (impl_->closed) return;
  impl_->group_barrier->request(std::move(topics), skip_assigned, std::move(done));
  if (impl_->consumer_queue) rd_kafka_queue_yield(impl_->consumer_queue.get());
}

bool KafkaTransport::ready() const { return !impl_->closed && impl_->catch_up->ready(); }

void KafkaTransport::on_assignment(std::function<void(const kafka::AssignmentChange&)> handler) {
  impl_->on_assignment = std::move(handler);
}

sagas::Result<int, std::string> KafkaTransport::partition_count(const std::string& topic) {
  if (!impl_->producer) return std::string("the transport is shut down");
  return impl_->partitions_of(impl_->producer.get(), topic, kMetadataTimeoutMs);
}

void KafkaTransport::flush(int timeout_ms) {
  if (!impl_->producer) return;
  rd_kafka_flush(impl_->producer.get(), timeout_ms);
  impl_->post_reports();
}

bool KafkaTransport::brokers_up() const { return impl_->up; }

std::optional<std::string> KafkaTransport::probe_brokers(int timeout_ms) {
  if (!impl_->producer) return std::string("the transport is shut down");
  const struct rd_kafka_metadata* md = nullptr;
  // all_topics = 0: the locally known topics, which are the warm ones, in one request.
  rd_kafka_resp_err_t err = rd_kafka_metadata(impl_->producer.get(), 0, nullptr, &md, timeout_ms);
  if (err) {
    impl_->mark_up(false);
    return std::string("brokers unreachable: ") + impl_->options.brokers + " (" + rd_kafka_err2str(err) + ")";
  }
  kafka::MetadataPtr owned(md);
  impl_->mark_up(true);
  return std::nullopt;
}

std::optional<std::string> KafkaTransport::brokers_unreachable() const {
  std::int64_t since = impl_->down_since_ms;
  if (since == 0) return std::nullopt;
  std::time_t seconds = static_cast<std::time_t>(since / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char at[32];
  std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return "brokers unreachable: " + impl_->options.brokers + " (since " + at + ")";
}

KafkaTransport::Partitions KafkaTransport::consumed_partitions() const {
  auto o = impl_->catch_up->owned();
  return {o.owned, o.expected};
}

std::int64_t KafkaTransport::consumer_lag() const {
  if (!impl_->consumer) return 0;
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(impl_->consumer.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR || raw == nullptr) return 0;
  kafka::ListPtr assigned(raw);
  rd_kafka_position(impl_->consumer.get(), assigned.get());
  std::int64_t lag = 0;
  for (int i = 0; i < assigned->cnt; ++i) {
    const auto& p = assigned->elems[i];
    std::int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(impl_->consumer.get(), p.topic, p.partition, &low, &high) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      continue;
    }
    std::int64_t at = p.offset >= 0 ? p.offset : low;
    if (high > at) lag += high - at;
  }
  return lag;
}

void KafkaTransport::close() {
  impl_->closed = true;
  impl_->on_receive = nullptr;
  impl_->on_delivery = nullptr;
}

}  // namespace kafka
