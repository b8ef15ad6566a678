#include "cluster/cluster.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <random>
#include <map>
#include <set>
#include <unordered_map>

#include "engine/store_reads.h"
#include "wire/protocol.h"
#include "postgres/cluster.h"
#include "postgres/store.h"

namespace cluster {

namespace {

using wire::Delivery;
using wire::Message;
using wire::Received;

// Marks a message one node sent on to the owner of its saga's shard: what it asks.
constexpr std::string_view kForwardHeader = "sagactl-forward";
constexpr std::string_view kForwardStart = "start";
constexpr std::string_view kForwardCompensate = "compensate";

// Outbox ids on the shared transport: a shard engine's id times kIdSlots plus its shard;
// the node's own forwards use the last slot.
constexpr std::int64_t kIdSlots = postgres::kMaxShards + 1;
constexpr std::int64_t kForwardSlot = postgres::kMaxShards;

void drop_header(Message& m, std::string_view name) {
  std::erase_if(m.headers, [&](const auto& h) { return h.first == name; });
}

// One shard's engine's transport: the node's, shared with the other shards. It subscribes to
// nothing (the node consumes for all) and is handed what the node routes to its shard. A
// command whose replies come on the shard topic names the shard's partition in
// `reply-partition`, so participants that honour it reply straight to the owner.
class ShardTransport final : public wire::Transport {
 public:
  // `barrier`: the node's catch-up barrier for its shards (ClusterNode::Impl::catch_up).
  using Barrier = std::function<void(std::function<void()>)>;
  ShardTransport(kafka::KafkaTransport& shared, int shard, const std::string& shard_topic, Barrier barrier)
      : shared_(shared), shard_(shard), shard_topic_(shard_topic), barrier_(std::move(barrier)) {}

  std::optional<std::string> subscribe(const std::vector<std::string>&) override { return std::nullopt; }
  void set_handlers(ReceiveHandler on_receive, DeliveryHandler on_delivery) override {
    on_receive_ = std::move(on_receive);
    on_delivery_ = std::move(on_delivery);
  }
  void send(std::int64_t outbox_id, const Message& message) override {
    const std::string* reply_to = message.header(wire::header::kReplyTo);
    if (reply_to == nullptr || *reply_to != shard_topic_) {
      shared_.send(outbox_id * kIdSlots + shard_, message);
      return;
    }
    Message addressed = message;
    addressed.headers.emplace_back(wire::header::kReplyPartition, std::to_string(shard_));
    shared_.send(outbox_id * kIdSlots + shard_, addressed);
  }
  void publish(const Message& message) override { shared_.publish(message); }
  void acknowledge(std::span<const std::uint64_t> tokens) override { shared_.acknowledge(tokens); }
  void catch_up(std::function<void()> done) override { barrier_(std::move(done)); }
  bool ready() const override { return shared_.ready(); }
  void close() override {
    on_receive_ = nullptr;
    on_delivery_ = nullptr;
  }

  void deliver(std::vector<Received> batch) {
    if (on_receive_) on_receive_(std::move(batch));
  }
  void delivered(std::vector<Delivery> batch) {
    for (auto& d : batch) d.outbox_id /= kIdSlots;
    if (on_delivery_) on_delivery_(std::move(batch));
  }

 private:
  kafka::KafkaTransport& shared_;
  int shard_;
  std::string shard_topic_;
  Barrier barrier_;
  ReceiveHandler on_receive_;
  DeliveryHandler on_delivery_;
};

void add_stats(engine::EngineStats& to, const engine::EngineStats& s) {
  to.commits += s.commits;
  to.transitions += s.transitions;
  to.commit_failures += s.commit_failures;
  to.replies += s.replies;
  to.duplicates += s.duplicates;
  to.dead_letters += s.dead_letters;
  to.sends += s.sends;
  to.send_failures += s.send_failures;
  to.pruned += s.pruned;
  to.read_failures += s.read_failures;
}

}  // namespace

struct ClusterNode::Impl {
  // A shard this node was given. Members in this order: the engine goes before the store and
  // the transport it borrows.
  struct Shard {
    std::unique_ptr<postgres::PostgresStore> store;
    std::unique_ptr<ShardTransport> transport;
    std::unique_ptr<engine::SystemClock> clock;
    std::unique_ptr<engine::Engine> engine;
    std::vector<Received> held;  // arrived before the engine opened
    std::unique_ptr<boost::asio::steady_timer> retry;
    bool open() const { return engine != nullptr; }
  };

  // A message sent on to its shard's owner, and the token that acknowledges the original.
  struct Forward {
    Message message;
    kafka::KafkaTransport* via = nullptr;  // sends it, and acknowledges the original
    std::optional<std::uint64_t> token;   // none: the node's own request (admin API)
  };

  Impl(boost::asio::io_context& io_, kafka::KafkaTransport& transport_, kafka::KafkaTransport& routing_,
       state::Store& view_, ClusterOptions o)
      : io(io_), transport(transport_), routing(routing_), view(view_), options(std::move(o)), rng(std::random_device{}()) {}

  boost::asio::io_context& io;
  kafka::KafkaTransport& transport;  // the shard topic, in the shards' group
  kafka::KafkaTransport& routing;    // the start topic and the other reply topics, in a group of their own
  state::Store& view;
  ClusterOptions options;
  std::vector<sagas::DefinitionPtr> defs;
  std::vector<std::function<void(const engine::Event&)>> subscribers;
  std::map<int, Shard> shards;      // assigned to this node
  std::vector<Received> homeless;   // for any shard of this node, none open yet
  std::unordered_map<std::int64_t, Forward> forwards;  // by outbox id
  std::int64_t next_forward = 1;
  std::uint64_t misrouted_replies = 0;  // replies read away from their shard's partition
  std::size_t next_local = 0;       // round robin over open shards for starts without an id
  engine::EngineStats retired;        // of shards that left: counters never go back
  std::shared_ptr<int> life = std::make_shared<int>(0);
  bool closed = false;
  std::mt19937_64 rng;  // ids of starts that come without one
  std::vector<std::string> routed_replies;  // the reply topics other than the shard topic
  // The sagas of every shard, read through the view.
  engine::StoreReads reads{view, [this](const std::string& name, int version) -> const sagas::Definition* {
                             for (const auto& d : defs) {
                               if (d->name == name && d->version == version) return d.get();
                             }
                             return nullptr;
                           }};

  int shard_of(const std::string& id) const { return postgres::shard_of(id, options.shards); }

  Shard* open_shard(int s) {
    auto it = shards.find(s);
    return it != shards.end() && it->second.open() ? &it->second : nullptr;
  }

  // --- shards coming and going ---

  void take(int s) {
    if (closed) return;
    Shard& sh = shards[s];
    if (sh.open()) return;
    auto store = postgres::open_shard(options.url, s, options.node);
    if (!store) return retry_take(s, store.error().message);
    sh.store = std::move(store).value();
    sh.transport = std::make_unique<ShardTransport>(transport, s, options.shard_topic,
                                                    [this](std::function<void()> done) { catch_up(std::move(done)); });
    sh.clock = std::make_unique<engine::SystemClock>(io);
    engine::EngineOptions eo = options.engine;
    // The shard's engine reads no start topic (the router does and marks what it hands on as
    // starts); the name places those starts' dead letters.
    eo.start_topic = options.start_topic;
    int shards_count = options.shards;
    eo.accept_id = [s, shards_count](const std::string& id) { return postgres::shard_of(id, shards_count) == s; };
    eo.on_fenced = [this, s, life = std::weak_ptr<int>(life)](const std::string& why) {
      spdlog::error("shard {}: {}", s, why);
      boost::asio::post(io, [this, s, life] {
        if (!life.expired()) drop(s);
      });
    };
    auto engine = std::make_unique<engine::Engine>(io, *sh.store, *sh.transport, *sh.clock, eo);
    for (const auto& d : defs) engine->add(d);
    engine->on_event([this](const engine::Event& e) {
      for (const auto& sub : subscribers) sub(e);
    });
    if (auto st = engine->open(); !st.ok()) {
      engine.reset();
      sh.store.reset();
      return retry_take(s, st.message);
    }
    sh.engine = std::move(engine);
    spdlog::info("shard {}: working it here (epoch {}, {} saga(s) resumed)", s, sh.store->epoch(),
                 sh.engine->active_sagas());
    if (!sh.held.empty()) sh.transport->deliver(std::exchange(sh.held, {}));
    if (!homeless.empty()) sh.transport->deliver(std::exchange(homeless, {}));
  }

  void retry_take(int s, const std::string& why) {
    spdlog::error("shard {}: cannot open it ({}); trying again in {} ms, its messages wait", s, why,
                  options.reopen_delay_ms);
    Shard& sh = shards[s];
    sh.retry = std::make_unique<boost::asio::steady_timer>(io, std::chrono::milliseconds(options.reopen_delay_ms));
    sh.retry->async_wait([this, s, life = std::weak_ptr<int>(life)](const boost::system::error_code& ec) {
      if (ec || life.expired() || !shards.contains(s)) return;
      take(s);
    });
  }

  // The shard leaves: what is pending is committed (unless fenced), the engine closes.
  void drop(int s) {
    auto it = shards.find(s);
    if (it == shards.end()) return;
    if (it->second.engine) {
      it->second.engine->close();
      add_stats(retired, it->second.engine->stats());
      spdlog::info("shard {}: no longer worked here", s);
    }
    shards.erase(it);  // held messages stay unacknowledged: the shard's next owner reads them
  }

  void assignment(const kafka::AssignmentChange& change) {
    for (const auto& [topic, p] : change.revoked) {
      if (topic == options.shard_topic) drop(p);
    }
    for (const auto& [topic, p] : change.assigned) {
      if (topic == options.shard_topic && p < options.shards) take(p);
    }
  }

  // --- time ---

  // A shard's catch-up barrier: its timers fire only after every reply written before the
  // request has reached the shard's partition and been read. In three steps: what stands on
  // the shard topic's partitions other members hold has been handled by them (sent on to its
  // shard, the copy acknowledged by the broker, the offset committed); so has what stands on
  // the other reply topics, read by the routing group; then this node has read its own
  // partitions up to their high watermarks, which now include those copies.
  void catch_up(std::function<void()> done) {
    transport.settle({options.shard_topic}, true, [this, life = std::weak_ptr<int>(life), done = std::move(done)]() mutable {
      if (life.expired()) return;
      auto own = [this, life, done = std::move(done)]() mutable {
        if (!life.expired()) transport.catch_up(std::move(done));
      };
      if (routed_replies.empty()) return own();
      routing.settle(routed_replies, false, std::move(own));
    });
  }

  // --- routing ---

  // The saga a message is about: its start request's id, or the saga-id header.
  std::optional<std::string> saga_of(const Message& m, bool is_start) const {
    if (is_start) {
      auto request = wire::parse_start(m);
      if (!request || !request->id) return std::nullopt;
      return request->id;
    }
    const std::string* id = m.header(wire::header::kSagaId);
    if (id == nullptr || id->empty()) return std::nullopt;
    return *id;
  }

  // An open shard of this node for what any of them may handle (a start without an id, a
  // message with no saga to dead-letter); none: it waits for one.
  Shard* any_open() {
    std::vector<Shard*> open;
    for (auto& [s, sh] : shards) {
      if (sh.open()) open.push_back(&sh);
    }
    if (open.empty()) return nullptr;
    return open[next_local++ % open.size()];
  }

  // A start handed on by another node, as its shard's engine takes it: a start by kind, on the
  // shard topic, without the forwarding header.
  static void mark_start(Received& r) {
    drop_header(r.message, kForwardHeader);
    r.kind = wire::MessageKind::start;
  }

  // What the shard topic brings: replies and requests for the shards of this node, and
  // replies a participant put on another shard's partition.
  void route(std::vector<Received> batch) {
    std::map<int, std::vector<Received>> to_shards;
    for (auto& r : batch) {
      const std::string* header = r.message.header(kForwardHeader);
      const std::string fwd = header ? *header : std::string();
      bool is_start = fwd == kForwardStart;
      auto id = saga_of(r.message, is_start);
      if (!id) {
        // Names no saga: dead-lettered by any shard of this node.
        if (is_start) mark_start(r);
        if (Shard* sh = any_open()) {
          sh->transport->deliver({std::move(r)});
        } else {
          homeless.push_back(std::move(r));
        }
        continue;
      }
      int s = shard_of(*id);
      if (fwd.empty() && r.message.partition != s) ++misrouted_replies;
      if (!shards.contains(s)) {
        if (r.message.partition == s) continue;  // arrived as its partition left: its new owner reads it
        forward(std::move(r.message), s, false, transport, r.token);  // still marked as what it is
        continue;
      }
      if (fwd == kForwardCompensate) {
        compensate_forwarded(s, *id, r);
        continue;
      }
      if (is_start) mark_start(r);
      to_shards[s].push_back(std::move(r));
    }
    for (auto& [s, messages] : to_shards) {
      Shard& sh = shards[s];
      if (sh.open()) {
        sh.transport->deliver(std::move(messages));
      } else {
        std::move(messages.begin(), messages.end(), std::back_inserter(sh.held));
      }
    }
  }

  // What the routing consumer brings (start requests, replies on the other reply topics):
  // each goes on to its saga's shard partition. A start without an id gets one here.
  void route_elsewhere(std::vector<Received> batch) {
    for (auto& r : batch) {
      bool is_start = r.message.topic == options.start_topic;
      auto id = saga_of(r.message, is_start);
      if (is_start && !id && wire::parse_start(r.message)) {
        // Named by its place in the start topic: if this node loses the partition before the
        // original is acknowledged, the next owner reads it again and forwards the same id.
        id = r.origin ? engine::start_id_from(r.message.topic, r.message.partition, *r.origin)
                      : engine::make_saga_id(rng, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count());
        r.message.headers.emplace_back(wire::header::kSagaId, *id);
      }
      if (!is_start) ++misrouted_replies;
      // Names no saga: its dead letter comes from shard 0's owner.
      forward(std::move(r.message), id ? shard_of(*id) : 0, is_start, routing, r.token);
    }
  }

  // Sends `m` to shard `s`'s partition; the original is acknowledged once the broker has it.
  void forward(Message m, int s, bool is_start, kafka::KafkaTransport& via, std::optional<std::uint64_t> token) {
    if (is_start && !m.header(kForwardHeader)) m.headers.emplace_back(kForwardHeader, kForwardStart);
    m.topic = options.shard_topic;
    m.partition = s;
    std::int64_t id = next_forward++ * kIdSlots + kForwardSlot;
    spdlog::debug("forwarding a message for shard {} to its owner", s);
    via.send(id, m);
    forwards.emplace(id, Forward{std::move(m), &via, token});
  }

  void compensate_forwarded(int s, const std::string& id, const Received& r) {
    Shard* sh = open_shard(s);
    if (sh == nullptr) {
      shards[s].held.push_back(r);
      return;
    }
    std::uint64_t token = r.token;
    auto ack = [this, token, life = std::weak_ptr<int>(life)](const engine::Status&) {
      if (!life.expired()) transport.acknowledge(std::span<const std::uint64_t>(&token, 1));
    };
    engine::Status st = sh->engine->compensate(engine::SagaId(id), r.message.value, ack);
    if (!st.ok()) {
      spdlog::warn("saga={} compensate request from another node not applied: {}", id, st.message);
      transport.acknowledge(std::span<const std::uint64_t>(&token, 1));
    }
  }

  void delivered(std::vector<Delivery> batch, kafka::KafkaTransport& via) {
    std::map<int, std::vector<Delivery>> to_shards;
    for (auto& d : batch) {
      auto slot = static_cast<int>(d.outbox_id % kIdSlots);
      if (slot != kForwardSlot && &via == &transport) {
        to_shards[slot].push_back(std::move(d));
        continue;
      }
      auto it = forwards.find(d.outbox_id);
      if (it == forwards.end() || it->second.via != &via) continue;
      if (!d.error.empty()) {
        spdlog::warn("forwarding to partition {} of {} failed, retrying in {} ms: {}", it->second.message.partition,
                     options.shard_topic, options.reopen_delay_ms, d.error);
        resend_later(d.outbox_id);
        continue;
      }
      if (it->second.token) via.acknowledge(std::span<const std::uint64_t>(&*it->second.token, 1));
      forwards.erase(it);
    }
    for (auto& [s, deliveries] : to_shards) {
      if (Shard* sh = open_shard(s)) sh->transport->delivered(std::move(deliveries));
    }
  }

  void resend_later(std::int64_t id) {
    auto timer = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(options.reopen_delay_ms));
    timer->async_wait([this, id, timer, life = std::weak_ptr<int>(life)](const boost::system::error_code& ec) {
      if (ec || life.expired() || closed) return;
      if (auto it = forwards.find(id); it != forwards.end()) it->second.via->send(id, it->second.message);
    });
  }
};

ClusterNode::ClusterNode(boost::asio::io_context& io, kafka::KafkaTransport& transport, kafka::KafkaTransport& routing,
                         state::Store& view, ClusterOptions options)
    : impl_(std::make_unique<Impl>(io, transport, routing, view, std::move(options))) {}

ClusterNode::~ClusterNode() { close(); }

void ClusterNode::add(sagas::DefinitionPtr definition) {
  for (auto& [s, sh] : impl_->shards) {
    if (sh.engine) sh.engine->add(definition);
  }
  impl_->defs.push_back(std::move(definition));
}

void ClusterNode::on_event(std::function<void(const engine::Event&)> subscriber) {
  impl_->subscribers.push_back(std::move(subscriber));
}

engine::Status ClusterNode::open() {
  auto& d = *impl_;
  d.transport.on_assignment([&d](const kafka::AssignmentChange& change) { d.assignment(change); });
  d.transport.set_handlers([&d](std::vector<Received> batch) { d.route(std::move(batch)); },
                           [&d](std::vector<Delivery> batch) { d.delivered(std::move(batch), d.transport); });
  d.routing.set_handlers([&d](std::vector<Received> batch) { d.route_elsewhere(std::move(batch)); },
                         [&d](std::vector<Delivery> batch) { d.delivered(std::move(batch), d.routing); });
  if (auto err = d.transport.subscribe({d.options.shard_topic})) return {engine::Errc::transport, *err};
  std::set<std::string> elsewhere(d.options.reply_topics.begin(), d.options.reply_topics.end());
  elsewhere.erase(d.options.shard_topic);
  d.routed_replies.assign(elsewhere.begin(), elsewhere.end());
  elsewhere.insert(d.options.start_topic);
  if (auto err = d.routing.subscribe({elsewhere.begin(), elsewhere.end()})) return {engine::Errc::transport, *err};
  return {};
}

void ClusterNode::close() {
  auto& d = *impl_;
  if (d.closed) return;
  d.closed = true;
  while (!d.shards.empty()) d.drop(d.shards.begin()->first);
  d.transport.close();
  d.routing.close();
}

bool ClusterNode::works(const engine::SagaId& id) const {
  auto it = impl_->shards.find(impl_->shard_of(id.value()));
  return it != impl_->shards.end() && it->second.open();
}

std::optional<std::vector<int>> ClusterNode::shards() const {
  std::vector<int> out;
  for (const auto& [s, sh] : impl_->shards) {
    if (sh.open()) out.push_back(s);
  }
  return out;
}

std::uint64_t ClusterNode::misrouted_replies() const { return impl_->misrouted_replies; }

engine::Result<engine::NodeStart> ClusterNode::start(const std::string& saga, sagas::Json input, engine::StartOptions options,
                                           std::function<void(const engine::Status&)> on_committed) {
  auto& d = *impl_;
  Impl::Shard* sh = options.id ? d.open_shard(d.shard_of(*options.id)) : d.any_open();
  if (sh != nullptr) {
    auto r = sh->engine->start(saga, std::move(input), std::move(options), std::move(on_committed));
    if (!r) return r.error();
    return engine::NodeStart{r->id, r->existed, false};
  }
  if (!options.id) {
    return engine::Status{engine::Errc::closed, "this node works no shard yet (the consumer group has not assigned it "
                                            "partitions of " + d.options.shard_topic + "); try again, or another node"};
  }
  bool known = std::any_of(d.defs.begin(), d.defs.end(), [&](const sagas::DefinitionPtr& def) { return def->name == saga; });
  if (!known) return engine::Status{engine::Errc::unknown_saga, "no saga named \"" + saga + "\" is loaded"};
  Message m;
  m.key = *options.id;
  m.headers = {{std::string(wire::header::kSagaName), saga}, {std::string(wire::header::kSagaId), *options.id}};
  m.value = input.dump();
  int s = d.shard_of(*options.id);
  if (d.shards.contains(s)) {
    // Assigned here but not open yet: it starts when the shard opens.
    d.shards[s].held.push_back({std::move(m), 0, std::nullopt, wire::MessageKind::start});
  } else {
    d.forward(std::move(m), s, true, d.transport, std::nullopt);
  }
  return engine::NodeStart{engine::SagaId(*options.id), false, true};
}

engine::Status ClusterNode::compensate(const engine::SagaId& id, std::string reason) {
  auto& d = *impl_;
  int s = d.shard_of(id.value());
  if (Impl::Shard* sh = d.open_shard(s)) return sh->engine->compensate(id, std::move(reason));
  // Answered here what can be (no such saga, finished), the rest by the owner.
  auto stored = d.view.load(id.value());
  if (!stored) return engine::from_store(stored.error());
  if (!*stored) return {engine::Errc::not_found, "no saga with id \"" + id.value() + "\""};
  auto state = (*stored)->state;
  if (sagas::is_terminal(state) && state != sagas::SagaState::failed) {
    return {engine::Errc::conflict, "saga " + id.value() + " has already finished (" + std::string(sagas::to_string(state)) + ")"};
  }
  Message m;
  m.key = id.value();
  m.headers = {{std::string(wire::header::kSagaId), id.value()},
               {std::string(kForwardHeader), std::string(kForwardCompensate)}};
  m.value = std::move(reason);
  d.forward(std::move(m), s, false, d.transport, std::nullopt);
  return {};
}

// A saga of a shard worked here is read from its engine (which knows what is not committed
// yet); any other from the view of every shard.
engine::Result<engine::SagaStatus> ClusterNode::status(const engine::SagaId& id) {
  auto& d = *impl_;
  if (Impl::Shard* sh = d.open_shard(d.shard_of(id.value()))) return sh->engine->status(id);
  return d.reads.status(id);
}

engine::Result<engine::SagaList> ClusterNode::list(const state::ListFilter& filter) { return impl_->reads.list(filter); }

engine::Result<std::vector<state::StateCount>> ClusterNode::count(const state::ListFilter& filter) {
  return impl_->reads.count(filter);
}

engine::Result<std::vector<state::HistoryRow>> ClusterNode::history(const engine::SagaId& id) {
  auto& d = *impl_;
  if (Impl::Shard* sh = d.open_shard(d.shard_of(id.value()))) return sh->engine->history(id);
  return d.reads.history(id);
}

std::vector<sagas::DefinitionPtr> ClusterNode::definitions() const { return impl_->defs; }

engine::EngineStats ClusterNode::stats() const {
  engine::EngineStats sum = impl_->retired;
  for (const auto& [s, sh] : impl_->shards) {
    if (sh.engine) add_stats(sum, sh.engine->stats());
  }
  return sum;
}

std::size_t ClusterNode::active_sagas() const {
  std::size_t n = 0;
  for (const auto& [s, sh] : impl_->shards) n += sh.engine ? sh.engine->active_sagas() : 0;
  return n;
}

std::size_t ClusterNode::unconfirmed_sends() const {
  std::size_t n = impl_->forwards.size();
  for (const auto& [s, sh] : impl_->shards) n += sh.engine ? sh.engine->unconfirmed_sends() : 0;
  return n;
}

bool ClusterNode::store_healthy() const {
  for (const auto& [s, sh] : impl_->shards) {
    if (!sh.open() || !sh.engine->store_healthy()) return false;
  }
  return true;
}

bool ClusterNode::ready() const {
  if (impl_->shards.empty()) return false;
  for (const auto& [s, sh] : impl_->shards) {
    if (!sh.open() || !sh.engine->ready()) return false;
  }
  return true;
}

}  // namespace cluster
