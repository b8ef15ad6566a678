// saga-bench: how many sagas per second the engine sustains and how much latency it adds,
// against the ceiling raw librdkafka + raw SQLite reach on this machine in the same run.
//
//   build/bench/saga-bench [--sagas N] [--concurrency C] [--json] ...   (--help for all)
//
// Every scenario runs in a child process of its own, so its peak RSS and CPU time are its
// own; the figures come back as JSON on a pipe.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "bench/scenarios.h"

namespace {

using sagas::Json;

// Runs `scenario` in a forked child with a fresh state directory; its JSON, or {"error"}.
// The directory is removed afterwards unless `keep` (its path is then in the JSON's "dir").
Json in_child(const std::string& parent_dir, bool keep, const std::function<Json(const std::string& dir)>& scenario) {
  std::string dir = parent_dir + "/run-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return *Json::parse(R"({"error":"cannot create a directory"})");
  int fds[2];
  if (pipe(fds) != 0) return *Json::parse(R"({"error":"cannot create a pipe"})");
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Json out;
    try {
      out = scenario(dir);
    } catch (const std::exception& e) {
      out = Json::object();
      out.set("error", Json(e.what()));
    }
    std::string text = out.dump();
    for (std::size_t at = 0; at < text.size();) {
      ssize_t n = write(fds[1], text.data() + at, text.size() - at);
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    _exit(0);  // the parent owns everything else (stdout buffers, the directory)
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::error_code ec;
  if (!keep) std::filesystem::remove_all(dir, ec);
  auto j = Json::parse(text);
  if (!j || !j->is_object()) {
    Json e = Json::object();
    e.set("error", Json("the scenario's process died (status " + std::to_string(status) + ")"));
    return e;
  }
  if (keep) j->set("dir", dir);
  return *j;
}

double num(const Json& j, std::string_view path) {
  const Json* at = &j;
  std::size_t start = 0;
  while (at != nullptr && start <= path.size()) {
    std::size_t dot = path.find('.', start);
    at = at->find(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return at != nullptr && at->is_number() ? at->as_double() : 0.0;
}

std::string printed(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string latencies(const Json& j, const char* which) {
  std::string w = which;
  return printed("%.2f", num(j, w + ".p50_ms")) + " / " + printed("%.2f", num(j, w + ".p99_ms")) + " / " +
         printed("%.2f", num(j, w + ".p999_ms"));
}

// What the command line asks for.
struct Options {
  bench::Settings s;
  int latency_sagas = 300;
  std::vector<int> scale = {1'000, 10'000, 100'000};
  bool json = false;
  bool keep = false;
  std::string dir = std::filesystem::temp_directory_path().string();
  std::vector<std::string> only;
  std::string postgres;  // the postgres and cluster parts' database; every other part runs on SQLite
  int cluster_shards = 6;

  void add_to(CLI::App& app) {
    app.add_option("--sagas", s.sagas, "Measured sagas per throughput scenario")->capture_default_str();
    app.add_option("--concurrency", s.concurrency, "Sagas in flight")->capture_default_str();
    app.add_option("--warmup", s.warmup, "Sagas run first and not measured")->capture_default_str();
    app.add_option("--fetch-wait", s.fetch_wait_ms, "Consumers' fetch.wait.max.ms")->capture_default_str();
    app.add_flag("--events", s.events, "Publish lifecycle events to sagas.events (as sagactl run does by default)");
    app.add_option("--partitions", s.partitions, "Partitions per topic")->capture_default_str();
    app.add_option("--ceiling-seconds", s.ceiling_seconds, "The ceiling runs at least this long")->capture_default_str();
    app.add_option("--latency-sagas", latency_sagas, "Sagas at one in flight (low-load latency)")
        ->capture_default_str();
    app.add_option("--scale", scale, "Saga counts of the scale runs (0: none)")->capture_default_str()->delimiter(',');
    app.add_option("--only", only,
                   "Run only these parts: ceiling, order, sdk, compensated, in-process, latency, scale, postgres, cluster")
        ->delimiter(',');
    app.add_option("--dir", dir, "Where the scenarios' state files go")->capture_default_str();
    app.add_option("--postgres", postgres,
                   "Also run the engine on this PostgreSQL database (URL; emptied before each scenario): the postgres "
                   "and cluster parts");
    app.add_option("--cluster-shards", cluster_shards, "Shards (partitions) of the cluster part's topics")
        ->capture_default_str();
    app.add_flag("--json", json, "Print the figures as JSON instead of tables");
    app.add_flag("--keep", keep, "Keep each scenario's state files (their folders are in the JSON's \"dir\")");
  }

  bool wanted(const std::string& part) const {
    return only.empty() || std::find(only.begin(), only.end(), part) != only.end();
  }
};

using Scenario = std::function<Json(const bench::Settings&)>;

// Runs the scenarios, each in a child of its own, and keeps their figures by name.
class Runner {
 public:
  explicit Runner(const Options& o) : o_(o) {}

  Json run(const std::string& name, const bench::Settings& settings, const Scenario& scenario) {
    std::cerr << "saga-bench: " << name << "..." << std::endl;
    Json r = in_child(o_.dir, o_.keep, [&](const std::string& d) {
      bench::Settings st = settings;
      st.dir = d;
      return scenario(st);
    });
    if (const Json* e = r.find("error")) std::cerr << "saga-bench: " << name << ": " << e->as_string() << "\n";
    scenarios.set(name, r);
    return r;
  }

  Json scenarios = Json::object();
  Json scale_runs = Json::array();

 private:
  const Options& o_;
};

Scenario engine(bench::Wire wire, bool fail_at_confirm = false, bench::Participants p = bench::Participants::echo) {
  return [=](const bench::Settings& st) { return bench::run_engine(st, wire, fail_at_confirm, p); };
}
Scenario ceiling(bool durable) {
  return [=](const bench::Settings& st) { return bench::run_ceiling(st, durable); };
}

// The throughput scenarios at the configured load.
void run_throughput(const Options& o, Runner& r) {
  using bench::Wire;
  if (o.wanted("ceiling")) r.run("ceiling", o.s, ceiling(true));
  if (o.wanted("order")) r.run("order", o.s, engine(Wire::kafka));
  if (o.wanted("sdk")) r.run("order-sdk", o.s, engine(Wire::kafka, false, bench::Participants::sdk));
  if (o.wanted("compensated")) r.run("order-compensated", o.s, engine(Wire::kafka, true));
  if (o.wanted("in-process")) r.run("order-in-process", o.s, engine(Wire::in_process));
}

// One saga in flight: the latency a step adds.
bench::Settings one_in_flight(const Options& o) {
  bench::Settings one = o.s;
  one.concurrency = 1;
  one.sagas = o.latency_sagas;
  one.warmup = 20;
  return one;
}

void run_latency(const Options& o, Runner& r) {
  if (!o.wanted("latency")) return;
  bench::Settings one = one_in_flight(o);
  r.run("round-trip-1", one, ceiling(false));
  r.run("ceiling-1", one, ceiling(true));
  r.run("order-1", one, engine(bench::Wire::kafka));
  // The engine's own cost of a step (machine, store commit with its fsync, dispatch) with no
  // broker in the way.
  r.run("order-in-process-1", one, engine(bench::Wire::in_process));
}

void run_postgres(const Options& o, Runner& r) {
  if (o.postgres.empty()) return;
  if (o.wanted("postgres")) {
    bench::Settings pg = o.s;
    pg.postgres = o.postgres;
    bench::Settings pg_one = one_in_flight(o);
    pg_one.postgres = o.postgres;
    r.run("order-postgres", pg, engine(bench::Wire::kafka));
    r.run("order-in-process-postgres", pg, engine(bench::Wire::in_process));
    r.run("order-in-process-1-postgres", pg_one, engine(bench::Wire::in_process));
  }
  if (o.wanted("cluster")) {
    bench::Settings pg = o.s;
    pg.postgres = o.postgres;
    pg.partitions = std::max(o.s.partitions, o.cluster_shards);
    for (int nodes = 1; nodes <= 3; ++nodes) {
      r.run("order-cluster-" + std::to_string(nodes), pg,
            [nodes](const bench::Settings& st) { return bench::run_cluster(st, nodes); });
    }
  }
}

void run_scale(const Options& o, Runner& r) {
  if (!o.wanted("scale")) return;
  for (int n : o.scale) {
    if (n <= 0) continue;
    bench::Settings st = o.s;
    st.sagas = n;
    const Json* same = n == o.s.sagas ? r.scenarios.find("order") : nullptr;
    r.scale_runs.as_array().push_back(same != nullptr ? *same : r.run("order-" + std::to_string(n), st, engine(bench::Wire::kafka)));
  }
}

// Ratios to the ceiling, the latency a step adds, and how the scale runs grew.
Json summary_of(const Json& scenarios, const Json& scale_runs) {
  Json summary = Json::object();
  double ceiling_steps = num(scenarios, "ceiling.steps_per_s");
  for (const char* name : {"order", "order-sdk", "order-compensated", "order-in-process", "order-postgres",
                           "order-in-process-postgres", "order-cluster-1", "order-cluster-2", "order-cluster-3"}) {
    if (const Json* r = scenarios.find(name); r != nullptr && ceiling_steps > 0) {
      summary.set(std::string(name) + "_vs_ceiling", Json(num(*r, "steps_per_s") / ceiling_steps));
    }
  }
  if (scenarios.find("order-1") != nullptr) {
    summary.set("added_step_latency_p50_ms",
                Json(num(scenarios, "order-1.step_latency.p50_ms") - num(scenarios, "ceiling-1.step_latency.p50_ms")));
    summary.set("added_step_latency_p99_ms",
                Json(num(scenarios, "order-1.step_latency.p99_ms") - num(scenarios, "ceiling-1.step_latency.p99_ms")));
  }
  if (scale_runs.as_array().size() >= 2) {
    const auto& runs = scale_runs.as_array();
    summary.set("rss_growth_mib", Json(num(runs.back(), "peak_rss_mib") - num(runs[runs.size() - 2], "peak_rss_mib")));
    summary.set("throughput_last_vs_first_scale",
                Json(num(runs.back(), "sagas_per_s") / std::max(1e-9, num(runs.front(), "sagas_per_s"))));
  }
  return summary;
}

Json settings_json(const bench::Settings& s) {
  Json settings = Json::object();
  settings.set("sagas", Json(s.sagas));
  settings.set("concurrency", Json(s.concurrency));
  settings.set("warmup", Json(s.warmup));
  settings.set("fetch_wait_ms", Json(s.fetch_wait_ms));
  settings.set("events", Json(s.events));
  settings.set("partitions", Json(s.partitions));
  settings.set("cores", Json(static_cast<std::int64_t>(std::thread::hardware_concurrency())));
  settings.set("synchronous", Json("FULL"));
  return settings;
}

// One row of the scenarios' table.
void print_row(const std::string& name, const Json& r, double ceiling_steps, int concurrency) {
  if (r.find("error") != nullptr) {
    std::printf("%-20s failed: %s\n", name.c_str(), r.find("error")->as_string().c_str());
    return;
  }
  bool is_ceiling = r.find("sagas") == nullptr;
  std::string per_saga = is_ceiling ? "-" : printed("%.0f", num(r, "sagas_per_s"));
  std::string saga_lat = is_ceiling ? "-" : latencies(r, "saga_latency");
  std::string cpu = is_ceiling ? printed("%.2f", num(r, "cpu_s_per_1000_steps") * bench::kStepsPerSaga)
                               : printed("%.2f", num(r, "cpu_s_per_1000_sagas"));
  std::string ratio = ceiling_steps > 0 && !is_ceiling && num(r, "concurrency") == concurrency
                          ? printed("%.2f", num(r, "steps_per_s") / ceiling_steps)
                          : "-";
  // Not measured where several writers commit at once (the cluster's shards).
  std::string commit_share =
      is_ceiling || r.find("commit_share") == nullptr ? "-" : printed("%.0f", num(r, "commit_share") * 100);
  std::string orchestrator_cpu = r.find("orchestrator_cpu_us_per_step") == nullptr
                                     ? "-"
                                     : printed("%.1f", num(r, "orchestrator_cpu_us_per_step"));
  std::string allocs = r.find("allocations_per_step") == nullptr ? "-" : printed("%.0f", num(r, "allocations_per_step"));
  std::printf("%-20s %9s %9.0f %24s %24s %9s %9s %8s %8.1f %8s %8s\n", name.c_str(), per_saga.c_str(),
              num(r, "steps_per_s"), saga_lat.c_str(), latencies(r, "step_latency").c_str(), cpu.c_str(),
              orchestrator_cpu.c_str(), allocs.c_str(), num(r, "peak_rss_mib"), commit_share.c_str(), ratio.c_str());
}

void print_scale(const Json& scale_runs, int concurrency) {
  if (scale_runs.as_array().empty()) return;
  std::printf("\nscale (order saga over Kafka, %d in flight)\n%10s %9s %14s %12s %12s %14s %11s %16s\n", concurrency,
              "sagas", "sagas/s", "saga p99 ms", "peak RSS MiB", "end RSS MiB", "state file MiB", "bytes/saga",
              "in memory at end");
  for (const auto& r : scale_runs.as_array()) {
    std::printf("%10.0f %9.0f %14.2f %12.1f %12.1f %14.1f %11.0f %16.0f\n", num(r, "sagas"), num(r, "sagas_per_s"),
                num(r, "saga_latency.p99_ms"), num(r, "peak_rss_mib"), num(r, "rss_end_mib"), num(r, "state_file_mib"),
                num(r, "state_bytes_per_saga"), num(r, "active_sagas_at_end"));
  }
}

void print_tables(const bench::Settings& s, const Json& scenarios, const Json& scale_runs, const Json& summary) {
  std::printf("saga-bench: %d sagas at %d in flight after %d warm-up, fetch.wait.max.ms=%d, %d partition(s), "
              "synchronous=FULL, %u cores\n\n",
              s.sagas, s.concurrency, s.warmup, s.fetch_wait_ms, s.partitions, std::thread::hardware_concurrency());
  std::printf("%-20s %9s %9s %24s %24s %9s %9s %8s %8s %8s %8s\n", "scenario", "sagas/s", "steps/s",
              "saga ms p50/p99/p999", "step ms p50/p99/p999", "CPU s/1k", "µs/step", "allocs", "RSS MiB", "commit%",
              "÷ceiling");
  double ceiling_steps = num(scenarios, "ceiling.steps_per_s");
  for (const auto& [name, r] : scenarios.as_object()) print_row(name, r, ceiling_steps, s.concurrency);
  std::printf("\n(ceiling and round-trip rows: one step = one raw request/reply; CPU per 1000 sagas' worth of "
              "steps; CPU counts every thread of the process: broker, participants, engine; µs/step and allocs: the "
              "orchestrator's CPU and heap allocations per step on its event loop and writer threads; commit%%: share "
              "of the time the writer spent in the store's commit; the event loop runs meanwhile; participants: one "
              "raw echo client for every command topic, but order-sdk's, a participant SDK service per topic)\n");
  if (summary.find("added_step_latency_p50_ms") != nullptr) {
    std::printf("\nadded step latency at one in flight (order-1 minus ceiling-1): p50 %.2f ms, p99 %.2f ms\n",
                num(summary, "added_step_latency_p50_ms"), num(summary, "added_step_latency_p99_ms"));
    std::printf("the engine's own step at one in flight, fsync included (order-in-process-1): p50 %.2f ms, p99 %.2f "
                "ms\n",
                num(scenarios, "order-in-process-1.step_latency.p50_ms"),
                num(scenarios, "order-in-process-1.step_latency.p99_ms"));
  }
  print_scale(scale_runs, s.concurrency);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"saga-bench: sagas per second and step latency against this machine's ceiling"};
  Options o;
  o.add_to(app);
  CLI11_PARSE(app, argc, argv);
  // stdout carries the figures; the declined confirmations of the compensation scenario are
  // warnings by design, and logging each would measure the logger.
  spdlog::set_default_logger(spdlog::stderr_color_mt("saga-bench"));
  spdlog::set_level(spdlog::level::err);

  Runner r(o);
  run_throughput(o, r);
  run_latency(o, r);
  run_postgres(o, r);
  run_scale(o, r);
  Json summary = summary_of(r.scenarios, r.scale_runs);
  if (o.json) {
    Json all = Json::object();
    all.set("settings", settings_json(o.s));
    all.set("scenarios", r.scenarios);
    all.set("scale", r.scale_runs);
    all.set("summary", summary);
    std::cout << all.dump() << "\n";
    return 0;
  }
  print_tables(o.s, r.scenarios, r.scale_runs, summary);
  return 0;
}
