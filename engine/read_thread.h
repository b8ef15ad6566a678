// ReadThread: the admin reads of a store (status, list, count, history) on a thread of their
// own, through a connection of their own (state::Store::open_reader), so the event loop never
// waits for a query. The reader handle is opened on that thread at the first read (and at the
// next one while opening fails: those reads answer with its error); a store with no reader
// handle (a test's FaultyStore) is read on the loop instead.
//
// Threading: read() on the loop; each read's work on the thread (or the loop, see above);
// what the work returns runs on the loop, and the work itself is destroyed there (it may hold
// what only the loop may touch). The reads see what the store holds when they run:
// a caller that must see what it applied first waits for its commits (Engine::read_committed).
// Destroying it waits for the read running now; reads not started yet are dropped.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "engine/store_reads.h"
#include "sagas/definition.h"
#include "state/store.h"

namespace engine {

class ReadThread {
 public:
  // `owner`: the store whose reader handle this opens; it outlives this.
  ReadThread(boost::asio::io_context& io, state::Store& owner);
  ~ReadThread();
  ReadThread(const ReadThread&) = delete;
  ReadThread& operator=(const ReadThread&) = delete;

  // `definitions`: the loaded ones, as the loop has them now (statuses are named by them).
  void read(std::vector<sagas::DefinitionPtr> definitions, ReadWork work);

 private:
  // On the thread: the reader handle, opened if it is not; an error when it cannot be.
  state::Result<state::Store*> reader();

  boost::asio::io_context& io_;
  state::Store& owner_;
  std::unique_ptr<state::Store> reader_;  // the thread's
  bool on_loop_ = false;                  // the store has no reader handle: read on the loop
  // Last: destroyed first, so no read outlives the reader handle.
  boost::asio::thread_pool thread_{1};
};

}  // namespace engine
