#include "participant/kafka_participant.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <mutex>
#include <algorithm>
#include <map>
#include <thread>
#include <unordered_map>

#include "wire/protocol.h"

#include "participant/reply_log.h"

namespace participant {

namespace {

// Brokers that do not answer at start: asked again after this, doubling up to the maximum.
constexpr std::chrono::milliseconds kFirstRetry{500};
constexpr std::chrono::milliseconds kMaxRetry{8000};
// How long one probe of the brokers waits (on the io_context's thread).
constexpr int kProbeMs = 1000;

// The participant's reply memory on a SQLite file.
class SqliteDedupStore final : public DedupStore {
 public:
  explicit SqliteDedupStore(std::unique_ptr<SqliteReplyLog> log) : log_(std::move(log)) {}
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
  std::unique_ptr<SqliteReplyLog> log_;
};

}  // namespace

struct Participant::Impl {
  Impl(boost::asio::io_context& io_, kafka::KafkaOptions kafka_, std::string topic_, ParticipantOptions options_,
       Participant* owner_)
      : io(io_),
        kafka(std::move(kafka_)),
        topic(std::move(topic_)),
        options(std::move(options_)),
        core(std::make_shared<ParticipantCore>()),
        owner(owner_) {}

  boost::asio::io_context& io;
  kafka::KafkaOptions kafka;
  std::string topic;
  ParticipantOptions options;
  std::shared_ptr<ParticipantCore> core;
  std::unique_ptr<kafka::KafkaTransport> transport;
  std::unordered_map<std::int64_t, std::pair<wire::Message, std::uint64_t>> unconfirmed;  // reply -> command token
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

  void on_receive(std::vector<wire::Received> batch) {
    if (options.handler_timeout.count() > 0) {
      for (auto& r : batch) queue.push_back(std::move(r));
      return next_job();
    }
    for (auto& r : batch) answer(r.message, r.token, core->handle(r.message));
  }

  // Sends a command's reply (as many copies as the test hook says), or acknowledges a
  // command that gets none.
  void answer(const wire::Message& command, std::uint64_t token, const std::optional<wire::Message>& reply) {
    int n = reply ? 1 : 0;
    if (reply && owner->copies) {
      if (auto cmd = read_command(command, nullptr)) n = owner->copies(*cmd);
    }
    if (n == 0) {
      transport->acknowledge(std::span<const std::uint64_t>(&token, 1));
      return;
    }
    waiting[token] = n;
    for (int i = 0; i < n; ++i) {
      std::int64_t id = next_id++;
      unconfirmed.emplace(id, std::pair{*reply, token});
      transport->send(id, *reply);
    }
  }

  // --- with a handler deadline: one command at a time on a thread of its own -------------
  //
  // The io_context's thread hands the next command to a new thread and waits for it with a
  // timer. A handler that returns in time is answered as above; one that does not is left
  // running: its command goes unanswered (acknowledged), its key is "overdue" (a retry of it
  // is skipped while the handler runs, so it never runs twice at once), and the next command
  // starts. A success it returns later is recorded by the core, so the next attempt is
  // answered from the reply log. Threads only touch the core (locked) and, to report back,
  // `back` (locked, emptied by stop()).
  struct Back {
    std::mutex mu;
    Impl* impl = nullptr;  // null once stopped
  };
  struct Job {
    std::uint64_t seq = 0;
    std::uint64_t token = 0;
    std::string key;
    wire::Message command;
  };
  std::shared_ptr<Back> back = std::make_shared<Back>();
  std::deque<wire::Received> queue;
  std::optional<Job> current;
  std::uint64_t job_seq = 0;
  std::map<std::uint64_t, std::string> overdue_jobs;  // seq -> key, of handlers past their deadline
  std::unique_ptr<boost::asio::steady_timer> job_timer;

  void next_job() {
    while (!current && !queue.empty() && transport) {
      wire::Received r = std::move(queue.front());
      queue.pop_front();
      auto cmd = read_command(r.message, nullptr);
      std::string key = cmd ? cmd->idempotency_key : std::string();
      bool overdue = std::any_of(overdue_jobs.begin(), overdue_jobs.end(), [&](const auto& j) { return j.second == key; });
      if (cmd && overdue) {
        spdlog::warn("participant: saga={} step={} key={}: the handler of an earlier attempt is still running past "
                     "its deadline; not replying",
                     cmd->saga_id, cmd->step, key);
        answer(r.message, r.token, std::nullopt);
        continue;
      }
      current = Job{++job_seq, r.token, key, std::move(r.message)};
      if (!job_timer) job_timer = std::make_unique<boost::asio::steady_timer>(io);
      job_timer->expires_after(options.handler_timeout);
      job_timer->async_wait([this, seq = job_seq](const boost::system::error_code& ec) {
        if (!ec) overran(seq);
      });
      std::thread([back = back, core = core, command = current->command, seq = job_seq, &io = io] {
        std::optional<wire::Message> reply = core->handle(command);
        std::lock_guard lock(back->mu);
        if (back->impl == nullptr) return;
        boost::asio::post(io, [back, seq, reply = std::move(reply)] {
          std::lock_guard inner(back->mu);
          if (back->impl != nullptr) back->impl->job_done(seq, reply);
        });
      }).detach();
    }
  }

  void job_done(std::uint64_t seq, const std::optional<wire::Message>& reply) {
    if (current && current->seq == seq) {
      job_timer->cancel();
      Job job = std::move(*current);
      current.reset();
      answer(job.command, job.token, reply);
      return next_job();
    }
    if (auto it = overdue_jobs.find(seq); it != overdue_jobs.end()) {
      spdlog::warn("participant: key={}: the overdue handler finished{}", it->second,
                   reply && *reply->header(wire::header::kOutcome) == "success"
                       ? "; its success is recorded for the next attempt"
                       : "");
      overdue_jobs.erase(it);
    }
  }

  void overran(std::uint64_t seq) {
    if (!current || current->seq != seq) return;
    Job job = std::move(*current);
    current.reset();
    auto cmd = read_command(job.command, nullptr);
    spdlog::error("participant: saga={} step={} key={}: the handler for {} did not return within {} ms; not replying "
                  "(it is left to finish on its own thread; a success it returns later answers the next attempt)",
                  cmd ? cmd->saga_id : "?", cmd ? cmd->step : "?", job.key, cmd ? cmd->command : "?",
                  options.handler_timeout.count());
    if (!job.key.empty()) overdue_jobs.emplace(job.seq, job.key);
    answer(job.command, job.token, std::nullopt);
    next_job();
  }

  void on_delivery(std::vector<wire::Delivery> deliveries) {
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

Participant::Participant(boost::asio::io_context& io, kafka::KafkaOptions kafka, std::string topic,
                         ParticipantOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(kafka), std::move(topic), std::move(options), this)) {
  if (impl_->kafka.group_id == "sagactl") impl_->kafka.group_id = impl_->topic + ".participant";
  impl_->core->count_calls(impl_->options.count_calls);
  if (impl_->options.clock) impl_->core->use_clock(impl_->options.clock);
  impl_->back->impl = impl_.get();
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
    auto log = SqliteReplyLog::open(path);
    if (!log) return log.error().message;
    dedup = std::make_shared<SqliteDedupStore>(std::move(log).value());
  }
  d.core->use(std::move(dedup));
  auto transport = kafka::KafkaTransport::create(d.io, d.kafka);
  if (!transport) return transport.error();
  d.transport = std::move(transport).value();
  d.transport->set_handlers([this](std::vector<wire::Received> b) { impl_->on_receive(std::move(b)); },
                            [this](std::vector<wire::Delivery> b) { impl_->on_delivery(std::move(b)); });
  if (d.transport->probe_brokers(kProbeMs)) {
    d.retry_timer = std::make_unique<boost::asio::steady_timer>(d.io);
    d.connect_later();  // start() returns: the service stays up and stoppable meanwhile
    return std::nullopt;
  }
  if (auto err = d.transport->subscribe({d.topic})) return err;
  return std::nullopt;
}

void Participant::stop() {
  {
    std::lock_guard lock(impl_->back->mu);
    impl_->back->impl = nullptr;  // a handler still running reports to no one
  }
  if (impl_->job_timer) impl_->job_timer->cancel();
  if (impl_->retry_timer) impl_->retry_timer->cancel();
  if (impl_->transport) impl_->transport->close();
  impl_->transport.reset();
}

std::map<std::string, int> Participant::calls() const { return impl_->core->calls(); }

std::size_t Participant::overdue() const { return impl_->overdue_jobs.size(); }

}  // namespace participant
