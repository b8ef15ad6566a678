#include "bench/measure.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace bench {

void Histogram::add(double micros) {
  double v = std::max(micros, 1.0);
  auto i = static_cast<std::size_t>(std::log2(v) * kPerDoubling);
  ++buckets_[std::min(i, kBuckets - 1)];
  ++count_;
  sum_ += micros;
  max_ = std::max(max_, micros);
}

double Histogram::percentile(double fraction) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) {
      double mid = std::exp2((static_cast<double>(i) + 0.5) / kPerDoubling);
      return std::min(mid, max_);
    }
  }
  return max_;
}

sagas::Json Histogram::to_json() const {
  auto ms = [](double us) { return sagas::Json(std::round(us) / 1000.0); };
  sagas::Json j = sagas::Json::object();
  j.set("count", sagas::Json(static_cast<std::int64_t>(count_)));
  j.set("p50_ms", ms(percentile(0.50)));
  j.set("p99_ms", ms(percentile(0.99)));
  j.set("p999_ms", ms(percentile(0.999)));
  j.set("mean_ms", ms(mean()));
  j.set("max_ms", ms(max_));
  return j;
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

pid_t current_tid() { return gettid(); }

std::optional<pid_t> thread_named(std::string_view name) {
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) return static_cast<pid_t>(std::stol(task.path().filename().string()));
  }
  return std::nullopt;
}

double thread_cpu_seconds(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  double on_cpu_ns = 0;
  f >> on_cpu_ns;
  return on_cpu_ns / 1e9;
}

void ThreadMeter::begin(std::vector<pid_t> threads) {
  readings_.clear();
  for (pid_t tid : threads) readings_.push_back({tid, thread_cpu_seconds(tid), 0, bench::allocations(tid), {}});
}

void ThreadMeter::end() {
  for (auto& r : readings_) {
    r.cpu_ended = thread_cpu_seconds(r.tid);
    r.allocs_ended = bench::allocations(r.tid);
  }
}

const ThreadMeter::Reading* ThreadMeter::find(pid_t tid) const {
  auto it = std::find_if(readings_.begin(), readings_.end(), [&](const Reading& r) { return r.tid == tid; });
  return it == readings_.end() ? nullptr : &*it;
}

double ThreadMeter::cpu_seconds(pid_t tid) const {
  const Reading* r = find(tid);
  return r == nullptr ? 0 : r->cpu_ended - r->cpu_began;
}

std::optional<std::uint64_t> ThreadMeter::allocations(pid_t tid) const {
  const Reading* r = find(tid);
  if (r == nullptr || !r->allocs_began || !r->allocs_ended) return std::nullopt;
  return *r->allocs_ended - *r->allocs_began;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

double current_rss_mib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

}  // namespace bench
