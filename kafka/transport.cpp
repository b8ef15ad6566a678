#include "kafka/transport.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kafka/catch_up.h"
#include "kafka/group_barrier.h"
#include "kafka/handles.h"
#include "kafka/in_flight.h"
#include "kafka/shutdown.h"

namespace kafka {

namespace {

// How long the pollers wait for work before looking at barriers and the stop flag again.
constexpr int kIdlePollMs = 100;
constexpr int kMetadataTimeoutMs = 10'000;
// The longest closing waits for a group's first assignment (a join: ~3 s on the mock cluster).
constexpr int kFirstAssignmentWaitMs = 10'000;
constexpr int kOwnerCheckTimeoutMs = 10'000;

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

struct KafkaTransport::Impl {
  Impl(boost::asio::io_context& io_, KafkaOptions options_) : io(io_), options(std::move(options_)) {}

  boost::asio::io_context& io;
  KafkaOptions options;
  kafka::HandlePtr producer;
  kafka::HandlePtr consumer;
  kafka::QueuePtr producer_queue;
  kafka::QueuePtr consumer_queue;
  std::thread producer_poller;
  std::thread consumer_poller;
  std::atomic<bool> stopping{false};
  // Checked by every handler posted to the executor: the transport may be gone by then.
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);

  // Executor side.
  wire::Transport::ReceiveHandler on_receive;
  wire::Transport::DeliveryHandler on_delivery;
  std::function<void(const AssignmentChange&)> on_assignment;
  std::set<std::string> topics;
  // The messages handed to the engine and not yet acknowledged, and what each partition may commit.
  kafka::InFlightOffsets in_flight;
  std::vector<kafka::InFlightOffsets::Advance> advances;  // acknowledge()'s, kept for its capacity
  bool closed = false;

  std::atomic<bool> up{true};  // set by librdkafka's threads, read by the executor
  // When every broker went down (milliseconds since the epoch; 0 while any is up).
  std::atomic<std::int64_t> down_since_ms{0};
  // Topic handles of the warm topics: "locally known", so one metadata request covers them all.
  std::vector<kafka::TopicPtr> warm_handles;

  // Records whether any broker answers; a change is logged once, naming the brokers (the
  // clients' own connection failures are debug lines: they repeat for every retry).
  void mark_up(bool now_up) {
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

  std::unique_ptr<kafka::CatchUp> catch_up;  // created with the consumer
  std::unique_ptr<kafka::GroupBarrier> group_barrier;  // likewise

  // Group mode: whether the group has ever given this consumer an assignment. librdkafka
  // 2.0 (Debian 12's) asserts when a cooperative-sticky consumer is destroyed before its
  // first one (librdkafka#4312, fixed in 2.3), so closing waits for it a while.
  std::mutex assigned_mu;
  std::condition_variable assigned_cv;
  bool assigned_once = false;  // guarded by assigned_mu
  bool subscribed = false;     // executor: rd_kafka_subscribe was called

  void wait_for_first_assignment(std::chrono::steady_clock::time_point deadline) {
    if (!subscribed) return;
    std::unique_lock lock(assigned_mu);
    auto until = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(kFirstAssignmentWaitMs));
    if (!assigned_cv.wait_until(lock, until, [&] { return assigned_once; })) {
      spdlog::warn("kafka: closing a consumer the group never gave partitions to (after {} ms)", kFirstAssignmentWaitMs);
    }
  }

  // The offset after the acknowledged prefix of each partition: written by acknowledge() on
  // the executor, read by the rebalance callback on the poller thread.
  std::mutex acked_mu;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> acked_next;

  // Every offset commit carries this metadata, so the group's offsets name the orchestrator
  // that consumes with them (see check_owner). Empty: no owner, no metadata.
  static constexpr const char* kOwnerPrefix = "sagactl owner=";
  const std::string owner_metadata = options.owner.empty() ? std::string() : kOwnerPrefix + options.owner;

  void add_commit(rd_kafka_topic_partition_list_t* list, const std::string& topic, std::int32_t partition,
                  std::int64_t offset) const {
    auto* e = rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
    e->offset = offset;
    if (owner_metadata.empty()) return;
    e->metadata = std::malloc(owner_metadata.size());  // freed with the list
    if (e->metadata == nullptr) return;
    std::memcpy(e->metadata, owner_metadata.data(), owner_metadata.size());
    e->metadata_size = owner_metadata.size();
  }

  // Rebalance (group mode), on the poller thread inside rd_kafka_consumer_poll.
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                           void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      spdlog::info("kafka: {} partition(s) assigned to this orchestrator", parts->cnt);
      {
        std::lock_guard lock(self->assigned_mu);
        self->assigned_once = true;
      }
      self->assigned_cv.notify_all();
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
          spdlog::error("kafka: cannot take the assigned partitions: {}", rd_kafka_error_string(e));
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(rk, parts);
      }
      self->catch_up->assignment_changed(nullptr);
      self->group_barrier->assignment_changed();
      self->post_assignment(parts, true);
      return;
    }
    spdlog::info("kafka: {} partition(s) revoked ({})", parts->cnt, rd_kafka_err2name(err));
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) self->commit_acknowledged(rk, parts);
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    self->catch_up->assignment_changed(parts);
    self->group_barrier->assignment_changed();
    std::vector<std::pair<std::string, std::int32_t>> gone;
    for (int i = 0; i < parts->cnt; ++i) gone.emplace_back(parts->elems[i].topic, parts->elems[i].partition);
    boost::asio::post(self->io, [self, alive = self->alive, gone = std::move(gone)] {
      if (*alive) self->forget(gone);
    });
    self->post_assignment(parts, false);
  }

  // Tells the assignment handler, on the executor, in order with the messages.
  void post_assignment(const rd_kafka_topic_partition_list_t* parts, bool assigned) {
    AssignmentChange change;
    auto& list = assigned ? change.assigned : change.revoked;
    for (int i = 0; i < parts->cnt; ++i) list.emplace_back(parts->elems[i].topic, parts->elems[i].partition);
    boost::asio::post(io, [this, alive = alive, change = std::move(change)] {
      if (*alive && !closed && on_assignment) on_assignment(change);
    });
  }

  // Commits, synchronously, what the engine acknowledged on partitions about to be revoked,
  // so their next owner starts right after it.
  void commit_acknowledged(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* parts) {
    kafka::ListPtr list(rd_kafka_topic_partition_list_new(parts->cnt));
    {
      std::lock_guard lock(acked_mu);
      for (int i = 0; i < parts->cnt; ++i) {
        auto it = acked_next.find({parts->elems[i].topic, parts->elems[i].partition});
        if (it != acked_next.end()) add_commit(list.get(), it->first.first, it->first.second, it->second);
      }
    }
    if (list->cnt == 0) return;
    if (auto e = rd_kafka_commit(rk, list.get(), 0)) {
      spdlog::warn("kafka: committing the revoked partitions' offsets failed (their next owner re-reads "
                   "from the last commit; replies already applied are recognised): {}",
                   rd_kafka_err2str(e));
    }
  }

  // Executor: drops the bookkeeping of revoked partitions; later acknowledgements of their
  // messages are no-ops (the new owner re-reads what was not committed).
  void forget(const std::vector<std::pair<std::string, std::int32_t>>& gone) {
    in_flight.forget(gone);
    std::lock_guard lock(acked_mu);
    for (const auto& tp : gone) acked_next.erase(tp);
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->mark_up(false);
    // A connection that failed is retried by the client, and said by mark_up when it matters.
    bool connection = err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT;
    spdlog::log(connection ? spdlog::level::debug : spdlog::level::warn, "kafka: {} ({})", reason,
                rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }

  // Delivery reports run inside rd_kafka_poll: on the producer poller, or in flush().
  std::mutex reports_mu;
  std::vector<wire::Delivery> reports;

  static void on_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
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

  static void on_log(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    auto lvl = level <= 3 ? spdlog::level::err : level <= 5 ? spdlog::level::warn : spdlog::level::debug;
    if (std::string_view(fac) == "FAIL") lvl = spdlog::level::debug;  // a failed connection: see mark_up
    spdlog::log(lvl, "kafka: {} {}", fac, buf);
  }

  void post_reports() {
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

  void run_producer_poller() {
    while (!stopping) {
      rd_kafka_poll(producer.get(), 100);
      post_reports();
    }
  }

  void run_consumer_poller() {
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

  // Posted after the messages they cover, so the engine applies those first.
  void post_passed_barriers() {
    auto passed = catch_up->service();
    for (auto& done : group_barrier->service()) passed.push_back(std::move(done));
    if (passed.empty()) return;
    boost::asio::post(io, [this, alive = alive, passed = std::move(passed)] {
      if (!*alive || closed) return;
      for (const auto& done : passed) done();
    });
  }

  void deliver(std::vector<wire::Received> batch) {
    spdlog::debug("kafka: {} message(s) received", batch.size());
    for (auto& r : batch) {
      r.token = in_flight.received(r.message.topic, r.message.partition, r.origin->offset);
    }
    if (on_receive) on_receive(std::move(batch));
  }

  struct ProduceError {
    std::string text;
    bool too_large = false;  // over message.max.bytes: never deliverable as it is
  };
  std::optional<ProduceError> produce(std::int64_t id, const wire::Message& m) {
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

  // Metadata of one topic on one handle: its partition count, or why not.
  sagas::Result<int, std::string> partitions_of(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
    kafka::TopicPtr t(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
    const struct rd_kafka_metadata* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t.get(), &md, timeout_ms);
    if (err) return std::string("cannot read the metadata of topic \"" + topic + "\": " + rd_kafka_err2str(err));
    kafka::MetadataPtr owned(md);
    if (md->topic_cnt < 1) return std::string("no metadata for topic \"" + topic + "\"");
    if (md->topics[0].err) {
      return std::string("topic \"" + topic + "\": " + rd_kafka_err2str(md->topics[0].err) +
                         " (create it, or let the broker auto-create topics)");
    }
    return md->topics[0].partition_cnt;
  }

  // Refuses to consume where another orchestrator commits: the group's committed offsets
  // carry the owner's name (add_commit). Our own earlier run has our name and passes.
  std::optional<std::string> check_owner(const rd_kafka_topic_partition_list_t* wanted) {
    if (options.owner.empty()) return std::nullopt;
    kafka::ListPtr committed(rd_kafka_topic_partition_list_copy(wanted));
    if (auto err = rd_kafka_committed(consumer.get(), committed.get(), kOwnerCheckTimeoutMs)) {
      return std::string("cannot read the committed offsets of group \"") + options.group_id +
             "\": " + rd_kafka_err2str(err) + " (is the broker reachable?)";
    }
    const std::string prefix = kOwnerPrefix;
    for (int i = 0; i < committed->cnt; ++i) {
      const auto& p = committed->elems[i];
      if (p.metadata == nullptr || p.metadata_size <= prefix.size()) continue;
      std::string meta(static_cast<const char*>(p.metadata), p.metadata_size);
      if (meta.compare(0, prefix.size(), prefix) != 0) continue;
      std::string other = meta.substr(prefix.size());
      if (other == options.owner) continue;
      return "consumer group \"" + options.group_id + "\" already consumes " + p.topic + " for another " +
             "orchestrator (" + other + "); this one is " + options.owner + ". Two orchestrators with their " +
             "own state on one reply topic would take each other's replies. Stop the other one, or give this " +
             "one its own reply topics and kafka.group; if the other is gone for good (its state file moved " +
             "or deleted), start this one with a new kafka.group";
    }
    return std::nullopt;
  }

  std::optional<std::string> apply_subscription() {
    kafka::ListPtr all(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    std::vector<kafka::CatchUp::TopicPartition> expected;
    for (const auto& t : topics) {
      auto n = partitions_of(consumer.get(), t, kMetadataTimeoutMs);
      if (!n) return n.error();
      for (int p = 0; p < *n; ++p) {
        rd_kafka_topic_partition_list_add(all.get(), t.c_str(), p)->offset = RD_KAFKA_OFFSET_STORED;
        expected.emplace_back(t, p);
      }
    }
    if (auto refused = check_owner(all.get())) return refused;
    catch_up->expect(std::move(expected));
    if (options.consume == KafkaOptions::Consume::group) {
      kafka::ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
      for (const auto& t : topics) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
      if (auto err = rd_kafka_subscribe(consumer.get(), list.get())) {
        return std::string("cannot subscribe: ") + rd_kafka_err2str(err);
      }
      subscribed = true;
      return std::nullopt;
    }
    if (auto err = rd_kafka_assign(consumer.get(), all.get())) {
      return std::string("cannot assign partitions: ") + rd_kafka_err2str(err);
    }
    catch_up->assignment_changed_elsewhere();
    return std::nullopt;
  }

  void stop_pollers() {
    stopping = true;
    if (producer_queue) rd_kafka_queue_yield(producer_queue.get());
    if (consumer_queue) rd_kafka_queue_yield(consumer_queue.get());
    if (producer_poller.joinable()) producer_poller.join();
    if (consumer_poller.joinable()) consumer_poller.join();
  }
};

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
