// FaultyStore: a Store that fails or "crashes" on command, after leveldb's
// FaultInjectionTestEnv. It wraps a real store (SqliteStore on a file in the tests) and
// counts commits; a crash is a SimulatedCrash exception thrown out of the engine's handler
// and so out of io_context::run, after which the test abandons that engine (no close(), no
// flush: like kill -9) and starts a new one on the same file.
#pragma once

#include <atomic>
#include <thread>

#include <optional>
#include <stdexcept>

#include "state/store.h"

namespace testing_support {

struct SimulatedCrash : std::runtime_error {
  SimulatedCrash() : std::runtime_error("simulated crash") {}
};

class FaultyStore final : public state::Store {
 public:
  explicit FaultyStore(state::Store& inner) : inner_(inner) {}

  int fail_commits = 0;                    // the next N commits fail with an I/O error, writing nothing
  bool fenced = false;                     // every commit is refused: another owner took the store over
  std::optional<int> crash_before_commit;  // the Nth commit (1-based) crashes before writing
  std::optional<int> crash_after_commit;   // the Nth commit writes, then crashes before anything is sent
  int commits = 0;                         // commit calls so far

  state::Status commit(std::span<state::Commit> batch, state::Position delivered) override {
    ++commits;
    if (crash_before_commit && commits == *crash_before_commit) throw SimulatedCrash();
    if (fenced) return {state::Errc::locked, "another orchestrator has taken the journal over"};
    if (fail_commits > 0) {
      --fail_commits;
      return {state::Errc::io, "injected I/O error"};
    }
    state::Status st = inner_.commit(batch, delivered);
    if (st.ok() && crash_after_commit && commits == *crash_after_commit) throw SimulatedCrash();
    return st;
  }

  // Reads fail with this I/O error while it is set (a failing disk).
  std::optional<std::string> fail_reads;

  state::Result<std::optional<sagas::Instance>> load(const std::string& id) override {
    if (fail_reads) return read_error();
    return inner_.load(id);
  }
  state::Result<std::vector<sagas::Instance>> load_active() override {
    if (fail_reads) return read_error();
    return inner_.load_active();
  }
  state::Result<state::Listed> list(const state::ListFilter& f) override {
    if (fail_reads) return read_error();
    return inner_.list(f);
  }
  state::Result<std::vector<state::StateCount>> count(const state::ListFilter& f) override {
    if (fail_reads) return read_error();
    return inner_.count(f);
  }
  state::Result<std::vector<state::HistoryRow>> history(const std::string& id) override {
    if (fail_reads) return read_error();
    return inner_.history(id);
  }
  state::Result<state::Backlog> undelivered() override {
    if (fail_reads) return read_error();
    return inner_.undelivered();
  }
  state::Result<bool> was_pruned(const std::string& id) override {
    if (fail_reads) return read_error();
    return inner_.was_pruned(id);
  }
  state::Result<std::vector<std::string>> ids_starting_with(const std::string& prefix, std::size_t limit) override {
    if (fail_reads) return read_error();
    return inner_.ids_starting_with(prefix, limit);
  }
  // The wrapped store's reader handle, without faults: the faults above are for the owner's
  // reads, which the engine's behaviour rests on (fail_reads is not shared with another thread).
  state::Result<std::unique_ptr<state::Store>> open_reader() override { return inner_.open_reader(); }
  state::Result<std::size_t> prune(sagas::TimeMs before, std::size_t max, sagas::TimeMs now) override {
    pruned_on = std::this_thread::get_id();
    if (fail_reads) return read_error();
    return inner_.prune(before, max, now);
  }
  // The thread the last prune ran on (the engine's writer thread, not its loop).
  std::atomic<std::thread::id> pruned_on{};

 private:
  state::Status read_error() const { return {state::Errc::io, *fail_reads}; }
  state::Store& inner_;
};

}  // namespace testing_support
