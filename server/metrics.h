// Metrics: the orchestrator's counters and histograms, rendered in the Prometheus text format
// for GET /metrics. Fed by the engine's lifecycle events and commit hook; gauges are read at
// render time. Used on the engine's executor only.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"

namespace server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // "name_bucket{labels,le=...} n" lines, then _sum and _count.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class Metrics {
 public:
  struct Gauges {
    std::size_t active_sagas = 0;
    std::size_t outbox_depth = 0;
    std::int64_t consumer_lag = 0;
    std::uint64_t dead_letters = 0;
    std::uint64_t duplicate_replies = 0;
    std::uint64_t store_read_failures = 0;
    std::uint64_t misrouted_replies = 0;
    bool broker_up = true;
    bool store_ok = true;
    bool ready = false;
  };

  void observe(const engine::Event& e);
  void observe_commit(double seconds, std::size_t transitions);
  std::string render(const Gauges& g) const;

 private:
  std::map<std::pair<std::string, std::string>, std::uint64_t> sagas_;  // (saga, outcome) -> n
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> steps_;  // saga, step, outcome
  std::map<std::string, std::uint64_t> retries_;
  std::map<std::string, std::uint64_t> timeouts_;
  std::map<std::string, Histogram> step_seconds_;
  std::unordered_map<std::string, engine::TimeMs> step_started_;  // "<id>/<step>" of steps in flight
  Histogram commit_seconds_{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
  std::uint64_t commits_ = 0;
  std::uint64_t transitions_ = 0;
};

}  // namespace server
