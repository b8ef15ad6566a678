#include "runtime/kafka_participant.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <unordered_map>

#include "state/sqlite_reply_log.h"

namespace saga {

namespace {

// Brokers that do not answer at start: asked again after this, doubling up to the maximum.
constexpr std::chrono::milliseconds kFirstRetry{500};
constexpr std::chrono::milliseconds kMaxRetry{8000};
// How long one probe of the brokers waits (on the io_context's thread).
constexpr int kProbeMs = 1000;

// The participant's reply memory on a SQLite file.
class SqliteDedupStore final : public DedupStore {
 public:
  explicit SqliteDedupStore(std::unique_ptr<state::SqliteReplyLog> log) : log_(std::move(log)) {}
  std::optional<Reply> find(const std::string& key) override {
    auto r = log_->find(key);
    if (!r) return std::nullopt;
    auto body = sagas::Json::parse(r->body);
    return Reply{r->success, body ? std::move(*body) : sagas::Json::object()};
  }
  void put(const std::string& key, const Reply& reply) override {
    if (!log_->put(key, {reply.success, reply.body.dump()})) {
      spdlog::error("participant: cannot record the reply for {} (it will be recomputed if asked again)", key);
    }
  }

 private:
  std::unique_ptr<state::SqliteReplyLog> log_;
};

}  // namespace

struct Participant::Impl {
  boost::asio::io_context& io;
  KafkaOptions kafka;
  std::string topic;
  ParticipantOptions options;
  std::shared_ptr<ParticipantCore> core;
  std::unique_ptr<KafkaTransport> transport;
  std::unordered_map<std::int64_t, std::pair<Message, std::uint64_t>> unconfirmed;  // reply -> command token
  std::unordered_map<std::uint64_t, int> waiting;  // command token -> replies not yet delivered
  std::int64_t next_id = 1;
  Participant* owner = nullptr;
  std::unique_ptr<boost::asio::steady_timer> retry_timer;
  std::chrono::milliseconds retry_after = kFirstRetry;

  // Subscribes once the brokers answer, asking again with backoff; the transport says once
  // that they are unreachable, naming them.
  void connect_later() {
    retry_timer->expires_after(retry_after);
    retry_after = std::min(retry_after * 2, kMaxRetry);
    retry_timer->async_wait([this](const boost::system::error_code& ec) {
      if (ec || !transport) return;
      if (transport->probe_brokers(kProbeMs)) return connect_later();
      if (auto err = transport->subscribe({topic})) {
        spdlog::error("participant: cannot consume {}: {}; trying again", topic, *err);
        return connect_later();
      }
      spdlog::info("participant: consuming {}", topic);
    });
  }

  void on_receive(std::vector<Received> batch) {
    for (auto& r : batch) {
      auto reply = core->handle(r.message);
      int n = reply ? 1 : 0;
      if (reply && owner->copies) {
        if (auto cmd = read_command(r.message, nullptr)) n = owner->copies(*cmd);
      }
      if (n == 0) {
        std::uint64_t token = r.token;
        transport->acknowledge(std::span<const std::uint64_t>(&token, 1));
        continue;
      }
      waiting[r.token] = n;
      for (int i = 0; i < n; ++i) {
        std::int64_t id = next_id++;
        unconfirmed.emplace(id, std::pair{*reply, r.token});
        transport->send(id, *reply);
      }
    }
  }

  void on_delivery(std::vector<Delivery> deliveries) {
    for (const auto& d : deliveries) {
      auto it = unconfirmed.find(d.outbox_id);
      if (it == unconfirmed.end()) continue;
      if (!d.error.empty()) {
        spdlog::warn("participant: reply to {} not delivered, sending again: {}", it->second.first.topic, d.error);
        transport->send(d.outbox_id, it->second.first);
        continue;
      }
      std::uint64_t token = it->second.second;
      unconfirmed.erase(it);
      if (--waiting[token] == 0) {
        waiting.erase(token);
        transport->acknowledge(std::span<const std::uint64_t>(&token, 1));
      }
    }
  }
};

Participant::Participant(boost::asio::io_context& io, KafkaOptions kafka, std::string topic,
                         ParticipantOptions options)
    : impl_(std::make_unique<Impl>(Impl{io, std::move(kafka), std::move(topic), std::move(options),
                                        std::make_shared<ParticipantCore>(), nullptr, {}, {}, 1, this, nullptr, kFirstRetry})) {
  if (impl_->kafka.group_id == "sagactl") impl_->kafka.group_id = impl_->topic + ".participant";
  impl_->core->count_calls(impl_->options.count_calls);
  if (impl_->options.clock) impl_->core->use_clock(impl_->options.clock);
}

Participant::~Participant() { stop(); }

void Participant::on(const std::string& command, ParticipantCore::Handler handler) {
  impl_->core->on(command, std::move(handler));
}

std::optional<std::string> Participant::start() {
  auto& d = *impl_;
  std::shared_ptr<DedupStore> dedup = d.options.dedup;
  if (!dedup) {
    std::string path = d.options.dedup_path.empty() ? d.topic + ".replies.db" : d.options.dedup_path;
    auto log = state::SqliteReplyLog::open(path);
    if (!log) return log.error().message;
    dedup = std::make_shared<SqliteDedupStore>(std::move(log).value());
  }
  d.core->use(std::move(dedup));
  auto transport = KafkaTransport::create(d.io, d.kafka);
  if (!transport) return transport.error();
  d.transport = std::move(transport).value();
  d.transport->set_handlers([this](std::vector<Received> b) { impl_->on_receive(std::move(b)); },
                            [this](std::vector<Delivery> b) { impl_->on_delivery(std::move(b)); });
  if (d.transport->probe_brokers(kProbeMs)) {
    d.retry_timer = std::make_unique<boost::asio::steady_timer>(d.io);
    d.connect_later();  // start() returns: the service stays up and stoppable meanwhile
    return std::nullopt;
  }
  if (auto err = d.transport->subscribe({d.topic})) return err;
  return std::nullopt;
}

void Participant::stop() {
  if (impl_->retry_timer) impl_->retry_timer->cancel();
  if (impl_->transport) impl_->transport->close();
  impl_->transport.reset();
}

const std::map<std::string, int>& Participant::calls() const { return impl_->core->calls(); }

}  // namespace saga
