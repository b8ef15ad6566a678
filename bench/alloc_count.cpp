// A counting malloc for saga-bench: every heap allocation (malloc, calloc, realloc,
// memalign and friends, and so operator new, which libstdc++ builds on malloc) is counted
// per thread, then served by glibc's own allocator (__libc_*). measure.h's allocations(tid)
// reads the counts of any thread.
//
// Each thread claims a slot on its first allocation; only that thread writes its count
// (relaxed atomics, so readers on other threads see a recent value without a lock). A
// sanitizer's build owns malloc itself: there nothing is counted.
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "bench/measure.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SAGA_BENCH_COUNTS_ALLOCATIONS 0
#else
#define SAGA_BENCH_COUNTS_ALLOCATIONS 1
#endif

namespace {

// More than the threads a scenario starts (the broker's, every client's, the engine's).
constexpr std::size_t kSlots = 1024;

struct Slot {
  std::atomic<pid_t> tid{0};
  std::atomic<std::uint64_t> allocations{0};
};
std::array<Slot, kSlots> slots;
std::atomic<std::size_t> claimed{0};
thread_local Slot* mine = nullptr;  // static TLS of the executable: reading it never allocates

[[maybe_unused]] void count_one() {
  if (mine == nullptr) {
    std::size_t at = claimed.fetch_add(1, std::memory_order_relaxed);
    if (at >= kSlots) return;  // beyond the slots: not counted (never seen in a scenario)
    mine = &slots[at];
    mine->tid.store(gettid(), std::memory_order_release);
  }
  mine->allocations.store(mine->allocations.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// A forked child's thread keeps the parent's slot (and `mine`) but has a tid of its own.
void after_fork_in_child() {
  if (mine != nullptr) mine->tid.store(gettid(), std::memory_order_release);
}
[[maybe_unused]] const int registered = pthread_atfork(nullptr, nullptr, &after_fork_in_child);

}  // namespace

namespace bench {

std::optional<std::uint64_t> allocations(pid_t tid) {
  if (!SAGA_BENCH_COUNTS_ALLOCATIONS) return std::nullopt;
  // A tid can be reused by a later thread: the newest slot with it is that thread's.
  for (std::size_t i = std::min(claimed.load(std::memory_order_acquire), kSlots); i-- > 0;) {
    if (slots[i].tid.load(std::memory_order_acquire) == tid) {
      return slots[i].allocations.load(std::memory_order_relaxed);
    }
  }
  return 0;
}

}  // namespace bench

#if SAGA_BENCH_COUNTS_ALLOCATIONS
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) {
  count_one();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  count_one();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  count_one();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
  count_one();
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  count_one();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  count_one();
  void* p = __libc_memalign(alignment, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}
#endif
