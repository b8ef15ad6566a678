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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"saga-bench: sagas per second and step latency against this machine's ceiling"};
  bench::Settings s;
  int latency_sagas = 300;
  std::vector<int> scale = {1'000, 10'000, 100'000};
  bool json = false;
  bool keep = false;
  std::string dir = std::filesystem::temp_directory_path().string();
  std::vector<std::string> only;
  std::string postgres;  // the postgres and cluster parts' database; every other part runs on SQLite
  int cluster_shards = 6;
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
  app.add_option("--only", only, "Run only these parts: ceiling, order, sdk, compensated, in-process, latency, scale, postgres, cluster")
      ->delimiter(',');
  app.add_option("--dir", dir, "Where the scenarios' state files go")->capture_default_str();
  app.add_option("--postgres", postgres,
                 "Also run the engine on this PostgreSQL database (URL; emptied before each scenario): the postgres and cluster "
                 "parts");
  app.add_option("--cluster-shards", cluster_shards, "Shards (partitions) of the cluster part's topics")
      ->capture_default_str();
  app.add_flag("--json", json, "Print the figures as JSON instead of tables");
  app.add_flag("--keep", keep, "Keep each scenario's state files (their folders are in the JSON's \"dir\")");
  CLI11_PARSE(app, argc, argv);
  // stdout carries the figures; the declined confirmations of the compensation scenario are
  // warnings by design, and logging each would measure the logger.
  spdlog::set_default_logger(spdlog::stderr_color_mt("saga-bench"));
  spdlog::set_level(spdlog::level::err);
  auto wanted = [&](const std::string& part) {
    return only.empty() || std::find(only.begin(), only.end(), part) != only.end();
  };
  auto progress = [&](const std::string& what) {
    std::cerr << "saga-bench: " << what << "..." << std::endl;
  };

  Json scenarios = Json::object();
  auto run = [&](const std::string& name, const std::function<Json(const std::string&)>& fn) {
    progress(name);
    Json r = in_child(dir, keep, fn);
    if (const Json* e = r.find("error")) std::cerr << "saga-bench: " << name << ": " << e->as_string() << "\n";
    scenarios.set(name, r);
    return r;
  };
  auto with_dir = [](bench::Settings st, const std::string& d) {
    st.dir = d;
    return st;
  };

  using bench::Wire;
  if (wanted("ceiling")) run("ceiling", [&](const std::string& d) { return bench::run_ceiling(with_dir(s, d), true); });
  if (wanted("order")) {
    run("order", [&](const std::string& d) { return bench::run_engine(with_dir(s, d), Wire::kafka, false); });
  }
  if (wanted("sdk")) {
    run("order-sdk", [&](const std::string& d) {
      return bench::run_engine(with_dir(s, d), Wire::kafka, false, bench::Participants::sdk);
    });
  }
  if (wanted("compensated")) {
    run("order-compensated", [&](const std::string& d) { return bench::run_engine(with_dir(s, d), Wire::kafka, true); });
  }
  if (wanted("in-process")) {
    run("order-in-process",
        [&](const std::string& d) { return bench::run_engine(with_dir(s, d), Wire::in_process, false); });
  }
  bench::Settings one = s;
  one.concurrency = 1;
  one.sagas = latency_sagas;
  one.warmup = 20;
  if (wanted("latency")) {
    run("round-trip-1", [&](const std::string& d) { return bench::run_ceiling(with_dir(one, d), false); });
    run("ceiling-1", [&](const std::string& d) { return bench::run_ceiling(with_dir(one, d), true); });
    run("order-1", [&](const std::string& d) { return bench::run_engine(with_dir(one, d), Wire::kafka, false); });
    // The engine's own cost of a step (machine, store commit with its fsync, dispatch) with
    // no broker in the way.
    run("order-in-process-1",
        [&](const std::string& d) { return bench::run_engine(with_dir(one, d), Wire::in_process, false); });
  }
  if (!postgres.empty() && wanted("postgres")) {
    bench::Settings pg = s;
    pg.postgres = postgres;
    bench::Settings pg_one = one;
    pg_one.postgres = postgres;
    run("order-postgres", [&](const std::string& d) { return bench::run_engine(with_dir(pg, d), Wire::kafka, false); });
    run("order-in-process-postgres",
        [&](const std::string& d) { return bench::run_engine(with_dir(pg, d), Wire::in_process, false); });
    run("order-in-process-1-postgres",
        [&](const std::string& d) { return bench::run_engine(with_dir(pg_one, d), Wire::in_process, false); });
  }
  if (!postgres.empty() && wanted("cluster")) {
    bench::Settings pg = s;
    pg.postgres = postgres;
    pg.partitions = std::max(s.partitions, cluster_shards);
    for (int nodes = 1; nodes <= 3; ++nodes) {
      run("order-cluster-" + std::to_string(nodes),
          [&](const std::string& d) { return bench::run_cluster(with_dir(pg, d), nodes); });
    }
  }
  Json scale_runs = Json::array();
  if (wanted("scale")) {
    for (int n : scale) {
      if (n <= 0) continue;
      bench::Settings st = s;
      st.sagas = n;
      Json r = (n == s.sagas && scenarios.find("order") != nullptr)
                   ? *scenarios.find("order")
                   : run("order-" + std::to_string(n),
                         [&](const std::string& d) { return bench::run_engine(with_dir(st, d), Wire::kafka, false); });
      scale_runs.as_array().push_back(r);
    }
  }

  // Ratios and targets.
  Json summary = Json::object();
  double ceiling = num(scenarios, "ceiling.steps_per_s");
  for (const char* name : {"order", "order-sdk", "order-compensated", "order-in-process", "order-postgres", "order-in-process-postgres",
                           "order-cluster-1", "order-cluster-2", "order-cluster-3"}) {
    if (const Json* r = scenarios.find(name); r != nullptr && ceiling > 0) {
      summary.set(std::string(name) + "_vs_ceiling", Json(num(*r, "steps_per_s") / ceiling));
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

  Json settings = Json::object();
  settings.set("sagas", Json(s.sagas));
  settings.set("concurrency", Json(s.concurrency));
  settings.set("warmup", Json(s.warmup));
  settings.set("fetch_wait_ms", Json(s.fetch_wait_ms));
  settings.set("events", Json(s.events));
  settings.set("partitions", Json(s.partitions));
  settings.set("cores", Json(static_cast<std::int64_t>(std::thread::hardware_concurrency())));
  settings.set("synchronous", Json("FULL"));

  if (json) {
    Json all = Json::object();
    all.set("settings", settings);
    all.set("scenarios", scenarios);
    all.set("scale", scale_runs);
    all.set("summary", summary);
    std::cout << all.dump() << "\n";
    return 0;
  }

  std::printf("saga-bench: %d sagas at %d in flight after %d warm-up, fetch.wait.max.ms=%d, %d partition(s), "
              "synchronous=FULL, %u cores\n\n",
              s.sagas, s.concurrency, s.warmup, s.fetch_wait_ms, s.partitions, std::thread::hardware_concurrency());
  std::printf("%-20s %9s %9s %24s %24s %9s %9s %8s %8s %8s %8s\n", "scenario", "sagas/s", "steps/s",
              "saga ms p50/p99/p999", "step ms p50/p99/p999", "CPU s/1k", "µs/step", "allocs", "RSS MiB", "commit%",
              "÷ceiling");
  for (const auto& [name, r] : scenarios.as_object()) {
    if (r.find("error") != nullptr) {
      std::printf("%-20s failed: %s\n", name.c_str(), r.find("error")->as_string().c_str());
      continue;
    }
    bool is_ceiling = r.find("sagas") == nullptr;
    std::string per_saga = is_ceiling ? "-" : printed("%.0f", num(r, "sagas_per_s"));
    std::string saga_lat = is_ceiling ? "-" : latencies(r, "saga_latency");
    std::string cpu = is_ceiling ? printed("%.2f", num(r, "cpu_s_per_1000_steps") * bench::kStepsPerSaga)
                                 : printed("%.2f", num(r, "cpu_s_per_1000_sagas"));
    std::string ratio = ceiling > 0 && !is_ceiling && num(r, "concurrency") == s.concurrency
                            ? printed("%.2f", num(r, "steps_per_s") / ceiling)
                            : "-";
    // Not measured where several writers commit at once (the cluster's shards).
    std::string commit_share = is_ceiling || r.find("commit_share") == nullptr
                                   ? "-"
                                   : printed("%.0f", num(r, "commit_share") * 100);
    std::string orchestrator_cpu = r.find("orchestrator_cpu_us_per_step") == nullptr
                                       ? "-"
                                       : printed("%.1f", num(r, "orchestrator_cpu_us_per_step"));
    std::string allocs =
        r.find("allocations_per_step") == nullptr ? "-" : printed("%.0f", num(r, "allocations_per_step"));
    std::printf("%-20s %9s %9.0f %24s %24s %9s %9s %8s %8.1f %8s %8s\n", name.c_str(), per_saga.c_str(),
                num(r, "steps_per_s"), saga_lat.c_str(), latencies(r, "step_latency").c_str(), cpu.c_str(),
                orchestrator_cpu.c_str(), allocs.c_str(), num(r, "peak_rss_mib"), commit_share.c_str(), ratio.c_str());
  }
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
  if (!scale_runs.as_array().empty()) {
    std::printf("\nscale (order saga over Kafka, %d in flight)\n%10s %9s %14s %12s %12s %14s %11s %16s\n",
                s.concurrency, "sagas", "sagas/s", "saga p99 ms", "peak RSS MiB", "end RSS MiB", "state file MiB",
                "bytes/saga", "in memory at end");
    for (const auto& r : scale_runs.as_array()) {
      std::printf("%10.0f %9.0f %14.2f %12.1f %12.1f %14.1f %11.0f %16.0f\n", num(r, "sagas"), num(r, "sagas_per_s"),
                  num(r, "saga_latency.p99_ms"), num(r, "peak_rss_mib"), num(r, "rss_end_mib"),
                  num(r, "state_file_mib"), num(r, "state_bytes_per_saga"), num(r, "active_sagas_at_end"));
    }
  }
  return 0;
}
