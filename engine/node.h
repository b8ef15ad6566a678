// Node: what the admin API asks of the orchestrator it serves: one engine that owns every
// saga of its state (EngineNode), or a cluster node working the shards the consumer group
// gave it while reading every shard (cluster.h).
//
// Threading: every call on the engine's io_context, like the engine itself.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/store_reads.h"

namespace engine {

// A start as a node took it.
struct NodeStart {
  SagaId id;
  bool existed = false;    // the id was in use already: nothing was started
  bool forwarded = false;  // handed to the node that owns the saga's shard, which starts it once
};

class Node {
 public:
  virtual ~Node() = default;

  // A definition for new starts (SIGHUP's reload); running sagas keep theirs.
  virtual void add(sagas::DefinitionPtr definition) = 0;
  virtual void on_event(std::function<void(const Event&)> subscriber) = 0;
  // Commits what is pending and stops working sagas.
  virtual void close() = 0;

  // As Engine::start; a forwarded start has no commit to wait for here: `on_committed` is not
  // called, the caller answers at once.
  virtual Result<NodeStart> start(const std::string& saga, sagas::Json input, StartOptions options,
                                        std::function<void(const Status&)> on_committed) = 0;
  // As Engine::compensate, here or at the saga's owner.
  virtual Status compensate(const SagaId& id, std::string reason) = 0;
  // Reads the sagas' store once what is pending now is committed, off the loop: `work` runs on
  // a reader thread and what it returns on the loop (Engine::read_committed; a cluster node:
  // once each shard's engine here has committed, over its view of every shard). Statuses,
  // lists, counts and histories all come this way: what they show is durable.
  virtual void read_committed(ReadWork work) = 0;
  virtual std::vector<sagas::DefinitionPtr> definitions() const = 0;

  // What metrics and probes show, summed over what the node works.
  virtual EngineStats stats() const = 0;
  virtual std::size_t active_sagas() const = 0;
  virtual std::size_t unconfirmed_sends() const = 0;
  virtual bool store_healthy() const = 0;
  // Why the store cannot take commits (for probes and refusals); empty when it can.
  virtual std::string store_problem() const { return store_healthy() ? "" : "the state store's commits are failing"; }
  // Checks that the store can still take commits (Engine::check_store); called about once a second.
  virtual void check_store() {}
  virtual bool ready() const = 0;
  // Whether this node works the saga (its transitions reach on_event here): a cluster node
  // only works the sagas of its shards.
  virtual bool works(const SagaId&) const { return true; }
  // A cluster node: the shards it works now (ascending); nullopt: not a cluster node.
  virtual std::optional<std::vector<int>> shards() const { return std::nullopt; }
  // A cluster node: the replies it read away from their shard's partition (a participant
  // that did not honour reply-partition, another reply topic); each was sent on to the
  // shard's owner, or applied here when this node works that shard too. 0: not a cluster node.
  virtual std::uint64_t misrouted_replies() const { return 0; }
};

// The single orchestrator: one engine, every saga of its store.
class EngineNode final : public Node {
 public:
  explicit EngineNode(Engine& engine) : e_(engine) {}

  void add(sagas::DefinitionPtr definition) override { e_.add(std::move(definition)); }
  void on_event(std::function<void(const Event&)> subscriber) override { e_.on_event(std::move(subscriber)); }
  void close() override { e_.close(); }

  Result<NodeStart> start(const std::string& saga, sagas::Json input, StartOptions options,
                                std::function<void(const Status&)> on_committed) override {
    auto r = e_.start(saga, std::move(input), std::move(options), std::move(on_committed));
    if (!r) return r.error();
    return NodeStart{r->id, r->existed, false};
  }
  Status compensate(const SagaId& id, std::string reason) override {
    return e_.compensate(id, std::move(reason));
  }
  void read_committed(ReadWork work) override { e_.read_committed(std::move(work)); }
  std::vector<sagas::DefinitionPtr> definitions() const override { return e_.definitions(); }
  EngineStats stats() const override { return e_.stats(); }
  std::size_t active_sagas() const override { return e_.active_sagas(); }
  std::size_t unconfirmed_sends() const override { return e_.unconfirmed_sends(); }
  bool store_healthy() const override { return e_.store_healthy(); }
  std::string store_problem() const override { return e_.store_problem(); }
  void check_store() override { e_.check_store(); }
  bool ready() const override { return e_.ready(); }

 private:
  Engine& e_;
};

}  // namespace engine
