// CommitWriter: runs Store::commit on a thread of its own, so the engine's event loop never
// waits on the disk: while batch N is written, the loop applies events and builds batch N+1.
//
// One batch at a time. submit() hands the batch over (moved) and the writer hands it back,
// with the store's status and how long the commit took, to `done` on the engine's executor;
// nothing else crosses threads. An exception thrown by the store (a test's simulated crash)
// is carried back and rethrown on the executor instead of `done`. drain() waits for the batch
// in flight and delivers its outcome at once, for the few callers that must see the store up
// to date (close, list, history).
//
// The writer also runs the store's other writes (prune) as tasks: run_task() hands one over,
// to run after the batch in flight and before the next, so the loop never waits on them and
// the store's committing connection never serves two threads.
//
// Threading: submit, run_task, drain and busy on the executor's thread only. The writer must be
// destroyed before the store; its destructor waits for the batch in flight, whose outcome is
// then dropped (the engine is going away: like a crash, the next open recovers). While a
// batch is in flight the io_context has work, so run() does not return before its outcome.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "state/store.h"

namespace engine {

class CommitWriter {
 public:
  struct Outcome {
    std::vector<state::Commit> batch;
    state::Position delivered = 0;
    state::Status status;
    double seconds = 0;  // the store's commit, measured on the writer thread
  };
  using Done = std::function<void(Outcome)>;
  // The writer thread's name as the system shows it (at most 15 characters).
  static constexpr const char* kThreadName = "saga-writer";

  CommitWriter(boost::asio::io_context& io, state::Store& store, Done done);
  ~CommitWriter();
  CommitWriter(const CommitWriter&) = delete;
  CommitWriter& operator=(const CommitWriter&) = delete;

  bool busy() const { return busy_; }
  // Requires !busy().
  void submit(std::vector<state::Commit> batch, state::Position delivered);
  // Runs `work` on the writer thread once what is in flight is done (one task waits at most:
  // a second replaces nothing and is refused, false), then `done` on the executor. While it
  // runs the writer is busy.
  bool run_task(std::function<void()> work, std::function<void()> done);
  // If a batch (or task) is in flight: waits for it and calls `done` (or rethrows) now. A
  // task that waited for it is then in flight: busy() says so.
  void drain();

 private:
  struct Task {
    std::function<void()> work;  // on the writer thread
    std::function<void()> done;  // then on the executor
  };
  void run();
  void start(Task task);  // on the executor, when not busy
  void collect();  // on the executor: delivers a finished batch's (or task's) outcome, if there is one

  boost::asio::io_context& io_;
  state::Store& store_;
  Done done_;
  bool busy_ = false;  // executor's view: submitted and not yet collected
  // Held while a batch is in flight: the io_context has work until its outcome is delivered.
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<Outcome> job_;       // to write
  std::optional<Outcome> finished_;  // written, waiting to be collected
  std::optional<Task> task_;           // to run
  std::optional<Task> task_finished_;  // ran, waiting to be collected
  std::optional<Task> queued_task_;    // executor: waits for the batch in flight
  std::exception_ptr failure_;       // thrown by the store instead
  bool stop_ = false;
  std::shared_ptr<int> life_ = std::make_shared<int>(0);  // posted collects check it
  std::thread thread_;
};

}  // namespace engine
