// ThreadSanitizer builds only: C11 threads routed through pthreads, so TSan sees
// librdkafka's threads and locks.
//
// Debian's librdkafka uses C11 threads (thrd_create, mtx_lock, cnd_wait). glibc implements
// them by calling its internal pthread functions directly, which TSan's interceptors never
// see: librdkafka's threads would run without TSan's per-thread state (it crashes on their
// first malloc) and its locks would order nothing. Defined in the executable, these win the
// dynamic symbol lookup over libc's and call the public, intercepted pthread functions.
// glibc's mtx_t and cnd_t have the layout of pthread_mutex_t and pthread_cond_t (its own
// implementation casts them the same way).
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

namespace {

int c11_result(int err) {
  switch (err) {
    case 0: return thrd_success;
    case ETIMEDOUT: return thrd_timedout;
    case EBUSY: return thrd_busy;
    case ENOMEM: return thrd_nomem;
    default: return thrd_error;
  }
}

struct Start {
  thrd_start_t func;
  void* arg;
};

void* trampoline(void* p) {
  Start s = *static_cast<Start*>(p);
  free(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(s.func(s.arg)));
}

pthread_mutex_t* as_mutex(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* as_cond(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }

}  // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* s = static_cast<Start*>(malloc(sizeof(Start)));
  if (s == nullptr) return thrd_nomem;
  s->func = func;
  s->arg = arg;
  int err = pthread_create(thr, nullptr, trampoline, s);
  if (err != 0) free(s);
  return c11_result(err);
}

int thrd_join(thrd_t thr, int* res) {
  void* out = nullptr;
  int err = pthread_join(thr, &out);
  if (err == 0 && res != nullptr) *res = static_cast<int>(reinterpret_cast<intptr_t>(out));
  return c11_result(err);
}

int thrd_detach(thrd_t thr) { return c11_result(pthread_detach(thr)); }

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if ((type & mtx_recursive) != 0) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int err = pthread_mutex_init(as_mutex(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return c11_result(err);
}
int mtx_lock(mtx_t* m) { return c11_result(pthread_mutex_lock(as_mutex(m))); }
int mtx_trylock(mtx_t* m) { return c11_result(pthread_mutex_trylock(as_mutex(m))); }
int mtx_timedlock(mtx_t* m, const struct timespec* t) { return c11_result(pthread_mutex_timedlock(as_mutex(m), t)); }
int mtx_unlock(mtx_t* m) { return c11_result(pthread_mutex_unlock(as_mutex(m))); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(as_mutex(m)); }

int cnd_init(cnd_t* c) { return c11_result(pthread_cond_init(as_cond(c), nullptr)); }
int cnd_signal(cnd_t* c) { return c11_result(pthread_cond_signal(as_cond(c))); }
int cnd_broadcast(cnd_t* c) { return c11_result(pthread_cond_broadcast(as_cond(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) { return c11_result(pthread_cond_wait(as_cond(c), as_mutex(m))); }
int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* t) {
  return c11_result(pthread_cond_timedwait(as_cond(c), as_mutex(m), t));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(as_cond(c)); }

}  // extern "C"
