// What the benchmark measures with: a fixed-memory latency histogram, a stopwatch, CPU time
// and resident memory of this process.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

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
// The most memory this process has had resident, in MiB.
double peak_rss_mib();
// What is resident now, in MiB.
double current_rss_mib();

}  // namespace bench
