#include "cluster/cluster.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <set>

#include "cluster/node_impl.h"

namespace cluster {

using wire::Delivery;
using wire::Message;
using wire::Received;

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

// Once every shard's engine here has committed what it holds now, from the view of every shard.
void ClusterNode::read_committed(engine::ReadWork work) {
  auto& d = *impl_;
  auto read = [&d, life = std::weak_ptr<int>(d.life), work = std::move(work)]() mutable {
    if (!life.expired()) d.reader.read(d.defs, std::move(work));
  };
  std::vector<engine::Engine*> engines;
  for (auto& [s, sh] : d.shards) {
    if (sh.open()) engines.push_back(sh.engine.get());
  }
  if (engines.empty()) {
    boost::asio::post(d.io, std::move(read));
    return;
  }
  auto left = std::make_shared<std::size_t>(engines.size());
  auto shared = std::make_shared<decltype(read)>(std::move(read));
  for (engine::Engine* e : engines) {
    e->after_commits([left, shared] {
      if (--*left == 0) (*shared)();
    });
  }
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
