#include "bench/measure.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

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
