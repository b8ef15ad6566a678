// A cluster node's shards coming and going, and the catch-up barrier of their timers.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "cluster/node_impl.h"

namespace cluster {

namespace {

// On the opener thread: the shard's store, and what its engine resumes from.
ShardOpening open_and_read(const std::string& url, int s, const std::string& node) {
  auto store = postgres::open_shard(url, s, node);
  if (!store) return engine::from_store(store.error());
  auto recovery = engine::Engine::read_recovery(**store);
  if (!recovery) return recovery.error();
  return OpenedShard{std::move(store).value(), std::move(recovery).value()};
}

}  // namespace

void ClusterNode::Impl::take(int s) {
  if (closed) return;
  Shard& sh = shards[s];
  if (sh.open()) return;
  sh.generation = next_generation++;
  // Connecting, fencing the previous owner, migrating and reading the unfinished sagas take
  // round trips: not on the loop that serves the node's other shards.
  boost::asio::post(opener, [this, s, generation = sh.generation, url = options.url, node = options.node,
                             life = std::weak_ptr<int>(life)] {
    auto opening = std::make_shared<ShardOpening>(open_and_read(url, s, node));
    boost::asio::post(io, [this, s, generation, life, opening] {
      if (!life.expired()) opened(s, generation, std::move(*opening));
    });
  });
}

void ClusterNode::Impl::opened(int s, std::uint64_t generation, ShardOpening opening) {
  auto it = shards.find(s);
  if (closed || it == shards.end() || it->second.generation != generation) return;  // left meanwhile
  Shard& sh = it->second;
  if (!opening) return retry_take(s, opening.error().message);
  sh.store = std::move(opening->store);
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
  if (auto st = engine->open(std::move(opening->recovery)); !st.ok()) {
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

void ClusterNode::Impl::retry_take(int s, const std::string& why) {
  spdlog::error("shard {}: cannot open it ({}); trying again in {} ms, its messages wait", s, why,
                options.reopen_delay_ms);
  Shard& sh = shards[s];
  sh.retry = std::make_unique<boost::asio::steady_timer>(io, std::chrono::milliseconds(options.reopen_delay_ms));
  sh.retry->async_wait([this, s, life = std::weak_ptr<int>(life)](const boost::system::error_code& ec) {
    if (ec || life.expired() || !shards.contains(s)) return;
    take(s);
  });
}

void ClusterNode::Impl::drop(int s) {
  auto it = shards.find(s);
  if (it == shards.end()) return;
  if (it->second.engine) {
    it->second.engine->close();
    add_stats(retired, it->second.engine->stats());
    spdlog::info("shard {}: no longer worked here", s);
  }
  shards.erase(it);  // held messages stay unacknowledged: the shard's next owner reads them
}

void ClusterNode::Impl::assignment(const kafka::AssignmentChange& change) {
  for (const auto& [topic, p] : change.revoked) {
    if (topic == options.shard_topic) drop(p);
  }
  for (const auto& [topic, p] : change.assigned) {
    if (topic == options.shard_topic && p < options.shards) take(p);
  }
}

// A shard's catch-up barrier: its timers fire only after every reply written before the
// request has reached the shard's partition and been read. In three steps: what stands on
// the shard topic's partitions other members hold has been handled by them (sent on to its
// shard, the copy acknowledged by the broker, the offset committed); so has what stands on
// the other reply topics, read by the routing group; then this node has read its own
// partitions up to their high watermarks, which now include those copies.
void ClusterNode::Impl::catch_up(std::function<void()> done) {
  transport.settle({options.shard_topic}, true, [this, life = std::weak_ptr<int>(life), done = std::move(done)]() mutable {
    if (life.expired()) return;
    auto own = [this, life, done = std::move(done)]() mutable {
      if (!life.expired()) transport.catch_up(std::move(done));
    };
    if (routed_replies.empty()) return own();
    routing.settle(routed_replies, false, std::move(own));
  });
}

}  // namespace cluster
