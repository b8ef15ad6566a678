#include "server/metrics.h"

#include <charconv>

namespace server {

namespace {

const std::vector<double> kStepBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10,   30, 60};

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// The shortest text that reads back as the same double (0.0025, not 0.0025000000000000001).
std::string num(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::uint64_t cumulative = 0;
  std::string sep = labels.empty() ? "" : labels + ",";
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + num(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

void Metrics::observe(const engine::Event& e) {
  using sagas::EventType;
  switch (e.type) {
    case EventType::saga_started: ++sagas_[{e.saga, "started"}]; break;
    case EventType::saga_completed: ++sagas_[{e.saga, "completed"}]; break;
    case EventType::saga_compensated: ++sagas_[{e.saga, "compensated"}]; break;
    case EventType::saga_failed: ++sagas_[{e.saga, "failed"}]; break;
    case EventType::step_attempt_failed: ++retries_[e.saga]; break;
    case EventType::step_timed_out: ++timeouts_[e.saga]; break;
    default: break;
  }

  std::string key = e.saga_id.value() + "/" + e.step;
  const char* outcome = nullptr;
  switch (e.type) {
    case EventType::step_succeeded: outcome = "succeeded"; break;
    case EventType::step_failed: outcome = "failed"; break;
    case EventType::step_skipped: outcome = "skipped"; break;
    case EventType::step_compensated: outcome = "compensated"; break;
    case EventType::step_compensation_failed: outcome = "compensation-failed"; break;
    default: break;
  }
  if (e.type == EventType::step_started) {
    step_started_.emplace(key, e.at);  // the first attempt's start: retries count in the latency
  } else if (outcome != nullptr) {
    ++steps_[{e.saga, e.step, outcome}];
    bool finished = e.type == EventType::step_succeeded || e.type == EventType::step_failed;
    if (auto it = step_started_.find(key); it != step_started_.end() && finished) {
      step_seconds_.try_emplace(e.saga, kStepBounds).first->second.observe(static_cast<double>(e.at - it->second) / 1000);
      step_started_.erase(it);
    }
  }
  if (sagas::is_terminal_event(e.type)) {
    // Drop what is left of this saga's in-flight steps (a failed group's siblings, ...).
    std::string prefix = e.saga_id.value() + "/";
    std::erase_if(step_started_, [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
  }
}

void Metrics::observe_commit(double seconds, std::size_t transitions) {
  commit_seconds_.observe(seconds);
  ++commits_;
  transitions_ += transitions;
}

std::string Metrics::render(const Gauges& g) const {
  std::string out;
  header(out, "sagactl_sagas_total", "counter", "Sagas by saga name and outcome (started, completed, compensated, failed).");
  for (const auto& [k, n] : sagas_) {
    out += "sagactl_sagas_total{saga=\"" + escape(k.first) + "\",outcome=\"" + k.second + "\"} " + std::to_string(n) + "\n";
  }
  header(out, "sagactl_steps_total", "counter", "Steps by saga, step and outcome.");
  for (const auto& [k, n] : steps_) {
    out += "sagactl_steps_total{saga=\"" + escape(std::get<0>(k)) + "\",step=\"" + escape(std::get<1>(k)) +
           "\",outcome=\"" + std::get<2>(k) + "\"} " + std::to_string(n) + "\n";
  }
  header(out, "sagactl_step_duration_seconds", "histogram",
         "From a step's first attempt to its success or failure, by saga.");
  for (const auto& [saga, h] : step_seconds_) h.render(out, "sagactl_step_duration_seconds", "saga=\"" + escape(saga) + "\"");
  header(out, "sagactl_step_retries_total", "counter", "Failed attempts that were retried, by saga.");
  for (const auto& [saga, n] : retries_) out += "sagactl_step_retries_total{saga=\"" + escape(saga) + "\"} " + std::to_string(n) + "\n";
  header(out, "sagactl_step_timeouts_total", "counter", "Attempts that timed out, by saga.");
  for (const auto& [saga, n] : timeouts_) out += "sagactl_step_timeouts_total{saga=\"" + escape(saga) + "\"} " + std::to_string(n) + "\n";
  header(out, "sagactl_dead_letters_total", "counter", "Replies sent to a dead-letter topic.");
  out += "sagactl_dead_letters_total " + std::to_string(g.dead_letters) + "\n";
  header(out, "sagactl_duplicate_replies_total", "counter", "Replies recognised as duplicates or late and ignored.");
  out += "sagactl_duplicate_replies_total " + std::to_string(g.duplicate_replies) + "\n";
  header(out, "sagactl_misrouted_replies_total", "counter",
         "Cluster mode: replies read away from their shard's partition (sent on to its owner).");
  out += "sagactl_misrouted_replies_total " + std::to_string(g.misrouted_replies) + "\n";
  header(out, "sagactl_active_sagas", "gauge", "Sagas running or compensating.");
  out += "sagactl_active_sagas " + std::to_string(g.active_sagas) + "\n";
  header(out, "sagactl_outbox_depth", "gauge", "Commands committed but not yet acknowledged by the broker.");
  out += "sagactl_outbox_depth " + std::to_string(g.outbox_depth) + "\n";
  header(out, "sagactl_consumer_lag", "gauge", "Replies and start requests in Kafka not yet read.");
  out += "sagactl_consumer_lag " + std::to_string(g.consumer_lag) + "\n";
  header(out, "sagactl_store_commit_seconds", "histogram", "Duration of each SQLite commit (group commit).");
  commit_seconds_.render(out, "sagactl_store_commit_seconds", "");
  header(out, "sagactl_store_transitions_total", "counter", "Transitions committed.");
  out += "sagactl_store_transitions_total " + std::to_string(transitions_) + "\n";
  header(out, "sagactl_store_read_failures_total", "counter", "Reads of the state file that failed (retried).");
  out += "sagactl_store_read_failures_total " + std::to_string(g.store_read_failures) + "\n";
  header(out, "sagactl_ready", "gauge", "1 when the reply consumer owns its partitions and has caught up (/readyz).");
  out += std::string("sagactl_ready ") + (g.ready ? "1" : "0") + "\n";
  header(out, "sagactl_up", "gauge", "1 when the component is healthy.");
  out += std::string("sagactl_up{component=\"store\"} ") + (g.store_ok ? "1" : "0") + "\n";
  out += std::string("sagactl_up{component=\"broker\"} ") + (g.broker_up ? "1" : "0") + "\n";
  return out;
}

}  // namespace server
