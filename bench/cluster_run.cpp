// The cluster scenarios: the order saga over Kafka on a PostgreSQL cluster of 1, 2 or 3 nodes
// (docs/cluster.md), each node a ClusterNode with its own event loop thread, its two
// consumers and its shards' engines, all in this process (on one machine they share its
// cores and its database whatever the process boundaries). Each node's driver keeps its share
// of the sagas in flight through that node's start (no id: a shard of the node), so no start
// is forwarded and the figure is the cluster's own work.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include "bench/engine_parts.h"
#include "dsl/compiler.h"
#include "cluster/cluster.h"
#include "kafka/dev_broker.h"
#include "kafka/transport.h"
#include "participant/kafka_participant.h"
#include "postgres/cluster.h"

namespace bench {

namespace {

// How long the nodes may take to share the shards (a group join on the mock cluster: ~3 s).
constexpr auto kFormTimeout = std::chrono::seconds(60);
constexpr auto kFormPoll = std::chrono::milliseconds(20);
constexpr const char* kStartTopic = "sagas.start";

// One node: its loop, its consumers, its view over the shards, its driver.
struct BenchNode {
  boost::asio::io_context io;
  std::unique_ptr<kafka::KafkaTransport> shards;
  std::unique_ptr<kafka::KafkaTransport> routing;
  std::unique_ptr<state::Store> view;
  std::unique_ptr<cluster::ClusterNode> node;
  std::unique_ptr<Driver> driver;
  std::thread thread;

  // Runs `fn` on the node's loop and returns its value.
  template <typename Fn>
  auto on_loop(Fn fn) {
    std::promise<decltype(fn())> p;
    boost::asio::post(io, [&] { p.set_value(fn()); });
    return p.get_future().get();
  }
};

std::unique_ptr<BenchNode> make_node(int n, const std::string& bootstrap, const Settings& s, int shard_count,
                                     const sagas::DefinitionPtr& def, const Settings& share) {
  auto b = std::make_unique<BenchNode>();
  kafka::KafkaOptions ko;
  ko.brokers = bootstrap;
  ko.group_id = "bench-cluster";
  ko.consume = kafka::KafkaOptions::Consume::group;
  ko.shared_partitions = true;
  ko.fetch_wait_max_ms = s.fetch_wait_ms;
  ko.instance_id = "bench-node-" + std::to_string(n);
  ko.session_timeout_ms = 6'000;
  ko.warm_topics = kCommandTopics;
  b->shards = must(kafka::KafkaTransport::create(b->io, ko));
  kafka::KafkaOptions ro = ko;
  ro.group_id += ".routing";
  ro.instance_id += "-routing";
  b->routing = must(kafka::KafkaTransport::create(b->io, ro));
  auto view = postgres::open_cluster_view(s.postgres, shard_count);
  if (!view) throw std::runtime_error(view.error().message);
  b->view = std::move(view).value();
  engine::EngineOptions eo;
  if (s.events) eo.events_topic = kEventsTopic;
  b->node = std::make_unique<cluster::ClusterNode>(
      b->io, *b->shards, *b->routing, *b->view,
      cluster::ClusterOptions{.url = s.postgres, .node = "bench-node-" + std::to_string(n), .shard_topic = kReplyTopic,
                              .reply_topics = {kReplyTopic}, .start_topic = kStartTopic, .shards = shard_count,
                              .engine = eo, .reopen_delay_ms = 1'000});
  b->node->add(def);
  if (auto st = b->node->open(); !st.ok()) throw std::runtime_error(st.message);
  b->driver = std::make_unique<Driver>(b->io, *b->node, share);
  return b;
}

// Formed: every shard open at exactly one node, each node ready with its fair share (the
// group may first give one node everything and move shards on in a later round).
void wait_until_formed(std::vector<std::unique_ptr<BenchNode>>& cluster, int shard_count) {
  auto formed_by = std::chrono::steady_clock::now() + kFormTimeout;
  const auto fair = static_cast<std::size_t>(shard_count) / cluster.size();
  for (;;) {
    std::vector<int> owned;
    bool ready = true;
    for (auto& b : cluster) {
      auto [shards, node_ready] = b->on_loop([&] { return std::pair{*b->node->shards(), b->node->ready()}; });
      owned.insert(owned.end(), shards.begin(), shards.end());
      ready = ready && node_ready && shards.size() >= fair;
    }
    std::sort(owned.begin(), owned.end());
    bool all = static_cast<int>(owned.size()) == shard_count &&
               std::adjacent_find(owned.begin(), owned.end()) == owned.end();
    if (all && ready) return;
    if (std::chrono::steady_clock::now() > formed_by) throw std::runtime_error("the cluster's nodes did not share the shards");
    std::this_thread::sleep_for(kFormPoll);
  }
}

// Every node's driver at once; returns when all are done.
void drive(std::vector<std::unique_ptr<BenchNode>>& cluster) {
  std::atomic<std::size_t> done{0};
  std::promise<void> all_done;
  for (auto& b : cluster) {
    b->driver->on_done = [&] {
      if (++done == cluster.size()) all_done.set_value();
    };
    boost::asio::post(b->io, [d = b->driver.get()] { d->begin(); });
  }
  all_done.get_future().wait();
}

// The nodes' figures together: the slowest node's time, every node's latencies and commits.
struct Totals {
  Histogram saga_latency, step_latency;
  double seconds = 0, cpu = 0;
  std::uint64_t commits = 0, transitions = 0;

  void add(const Driver& d) {
    seconds = std::max(seconds, d.seconds);
    cpu = std::max(cpu, d.cpu);  // the process's: every node's, counted once
    saga_latency.merge(d.saga_latency);
    step_latency.merge(d.step_latency);
    commits += d.commits;
    transitions += d.transitions;
  }

  sagas::Json to_json(int nodes, int shard_count, const Settings& share) const {
    auto measured = static_cast<double>(share.sagas * nodes);
    auto steps = static_cast<double>(step_latency.count());
    sagas::Json j = sagas::Json::object();
    j.set("nodes", sagas::Json(nodes));
    j.set("shards", sagas::Json(shard_count));
    j.set("sagas", sagas::Json(static_cast<std::int64_t>(measured)));
    j.set("concurrency", sagas::Json(share.concurrency * nodes));
    j.set("steps", sagas::Json(static_cast<std::int64_t>(step_latency.count())));
    j.set("seconds", sagas::Json(seconds));
    j.set("sagas_per_s", sagas::Json(measured / seconds));
    j.set("steps_per_s", sagas::Json(steps / seconds));
    j.set("saga_latency", saga_latency.to_json());
    j.set("step_latency", step_latency.to_json());
    j.set("cpu_s_per_1000_sagas", sagas::Json(cpu / measured * 1000));
    j.set("transitions_per_commit",
          sagas::Json(commits == 0 ? 0.0 : static_cast<double>(transitions) / static_cast<double>(commits)));
    j.set("peak_rss_mib", sagas::Json(peak_rss_mib()));
    return j;
  }
};

std::unique_ptr<kafka::DevBroker> broker_with_topics(const Settings& s) {
  auto broker = must(kafka::DevBroker::start(1));
  std::vector<std::string> topics = kCommandTopics;
  topics.insert(topics.end(), {kReplyTopic, kReplyTopic + ".dlq", kEventsTopic, kStartTopic});
  for (const auto& t : topics) {
    if (auto err = broker->create_topic(t, s.partitions)) throw std::runtime_error(*err);
  }
  return broker;
}

}  // namespace

sagas::Json run_cluster(const Settings& s, int nodes) {
  auto compiled = dsl::compile(kOrderSaga, "bench-order.yaml");
  if (!compiled.ok()) throw std::runtime_error(dsl::format(compiled.diagnostics.front()));
  const std::size_t window = static_cast<std::size_t>(s.concurrency) * 16 + 1024;
  empty_postgres(s.postgres);
  auto broker = broker_with_topics(s);
  auto shape = postgres::join_cluster(s.postgres, {kReplyTopic, s.partitions});
  if (!shape) throw std::runtime_error(shape.error().message);

  // Each node drives its share of the sagas and of the concurrency.
  Settings share = s;
  share.sagas = s.sagas / nodes;
  share.warmup = s.warmup / nodes;
  share.concurrency = std::max(1, s.concurrency / nodes);
  std::vector<std::unique_ptr<BenchNode>> cluster;
  for (int n = 0; n < nodes; ++n) {
    cluster.push_back(make_node(n, broker->bootstrap(), s, s.partitions, compiled.definition, share));
  }
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<WorkGuard>> guards;
  for (auto& b : cluster) {
    guards.push_back(std::make_unique<WorkGuard>(b->io.get_executor()));
    b->thread = std::thread([&io = b->io] { io.run(); });
  }

  // Participants on a thread of their own, as separate services would be.
  boost::asio::io_context services_io;
  auto services_work = boost::asio::make_work_guard(services_io);
  kafka::KafkaOptions participants;
  participants.brokers = broker->bootstrap();
  participants.consume = kafka::KafkaOptions::Consume::assign;
  participants.fetch_wait_max_ms = s.fetch_wait_ms;
  auto services = kafka_echo_services(services_io, participants, window, false);
  std::thread services_thread([&] { services_io.run(); });

  wait_until_formed(cluster, s.partitions);
  drive(cluster);
  Totals totals;
  for (auto& b : cluster) {
    b->on_loop([&] {
      b->node->close();
      return 0;
    });
    totals.add(*b->driver);
  }
  guards.clear();
  for (auto& b : cluster) b->thread.join();
  services_work.reset();
  services_io.stop();
  services_thread.join();
  return totals.to_json(nodes, s.partitions, share);
}

}  // namespace bench
