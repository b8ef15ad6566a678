// What the benchmark measures with: a fixed-memory latency histogram, a stopwatch, CPU time
// and resident memory of this process.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "sagas/json.h"

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Latencies in log-spaced buckets (32 per doubling, ~2% wide) from 1 µs to ~18 min: a
// million samples cost what ten do, so memory stays flat however long the run.
class Histogram {
 public:
  void add(double micros);
  std::uint64_t count() const { return count_; }
  // The value below which this fraction of the samples lies (bucket midpoint), in µs.
  double percentile(double fraction) const;
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }
  double max() const { return max_; }
  // {"count", "p50_ms", "p99_ms", "p999_ms", "mean_ms", "max_ms"}
  sagas::Json to_json() const;
  // Adds another histogram's samples (several nodes' into one).
  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
  }

 private:
  static constexpr int kPerDoubling = 32;
  static constexpr std::size_t kBuckets = 30 * kPerDoubling;
  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  double sum_ = 0;
  double max_ = 0;
};

// CPU seconds (user + system) this process has used, all threads.
double process_cpu_seconds();
// CPU seconds the calling thread has used.
double thread_cpu_seconds();
// This thread's id as the kernel knows it.
pid_t current_tid();
// The id of this process's thread named `name` (as /proc/self/task/*/comm shows it), if any.
std::optional<pid_t> thread_named(std::string_view name);
// CPU seconds thread `tid` of this process has used (its schedstat, nanoseconds).
double thread_cpu_seconds(pid_t tid);
// Heap allocations thread `tid` has made (alloc_count.cpp: malloc and what is built on it,
// operator new included); nullopt in a sanitizer's build, which owns malloc.
std::optional<std::uint64_t> allocations(pid_t tid);

// The CPU time and heap allocations of some threads between begin() and end().
class ThreadMeter {
 public:
  void begin(std::vector<pid_t> threads);
  void end();
  double cpu_seconds(pid_t tid) const;
  std::optional<std::uint64_t> allocations(pid_t tid) const;

 private:
  struct Reading {
    pid_t tid;
    double cpu_began = 0, cpu_ended = 0;
    std::optional<std::uint64_t> allocs_began, allocs_ended;
  };
  const Reading* find(pid_t tid) const;
  std::vector<Reading> readings_;
};

// The most memory this process has had resident, in MiB.
double peak_rss_mib();
// What is resident now, in MiB.
double current_rss_mib();

}  // namespace bench
