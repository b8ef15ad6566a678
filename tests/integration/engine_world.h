// A world for engine tests: a real store (a SQLite file, or a PostgreSQL database), the
// in-process bus, a fake participant for every command of the loaded sagas, and a manual
// clock. The bus, the participant's memory and the store outlive an "incarnation" of the
// orchestrator, so a test can crash the engine (abandon it mid-flight, like kill -9) and
// boot a new one on the same store.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsl/compiler.h"
#include "engine/engine.h"
#include "tests/support/manual_clock.h"
#include "wire/in_process.h"
#include "participant/core.h"
#include "wire/protocol.h"
#include "cli/open_store.h"
#include "tests/support/faulty_store.h"
#include "tests/support/store_site.h"

namespace engine_test {

namespace fs = std::filesystem;
using namespace engine;
using sagas::Json;
using testing_support::Backend;
using testing_support::FaultyStore;
using testing_support::SimulatedCrash;

inline sagas::DefinitionPtr compile_yaml(const std::string& yaml) {
  auto r = dsl::compile(yaml, "test.yaml");
  for (const auto& d : r.diagnostics) ADD_FAILURE() << dsl::format(d);
  return r.definition;
}

inline sagas::DefinitionPtr example(const std::string& name) {
  auto r = dsl::load({fs::path(SAGACTL_SOURCE_DIR) / "examples" / "sagas" / (name + ".yaml")});
  EXPECT_TRUE(r.ok());
  return r.definitions.empty() ? nullptr : r.definitions.front();
}

// Every field any example saga's templates read from a reply.
inline Json success_body(const participant::Command& c) {
  Json body = Json::object();
  for (const char* field : {"reservationId", "chargeId", "holdId", "bookingRef", "reservation", "rentalId"}) {
    body.as_object().emplace_back(field, Json(c.step + "-" + c.saga_id));
  }
  body.as_object().emplace_back("price", Json(100.0));
  return body;
}

class World {
 public:
  // The participant answers every command of `defs`; the engine loads `loaded` (all of them
  // unless a test changes it between incarnations).
  // `site`: a store the test made itself (a database URL), instead of a new one of `backend`.
  explicit World(std::vector<sagas::DefinitionPtr> defs, Backend backend = Backend::sqlite, std::string site = "")
      : loaded(defs), defs_(std::move(defs)), site_(std::move(site)) {
    if (!std::getenv("SAGACTL_TEST_LOG")) spdlog::set_level(spdlog::level::off);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "sagactl-engine-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name();
    for (char& ch : name) {
      if (ch == '/' || ch == ' ') ch = '_';
    }
    dir_ = fs::temp_directory_path() / name;
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (site_.empty()) site_ = testing_support::new_store_site(backend, dir_.string());
    bus.observer = [this](const wire::Message& m) { published.push_back(m); };
    core_ = std::make_shared<participant::ParticipantCore>();
    core_->count_calls(true);
    core_->use_clock([this] { return clock->now(); });  // expires-at is the manual clock's
    for (const auto& d : defs_) {
      for (const auto& s : d->steps) {
        topics_.push_back(s.execute.topic);
        core_->on(s.execute.command, [this](const participant::Command& c) { return handle(c); });
        if (s.compensation) {
          topics_.push_back(s.compensation->topic);
          core_->on(s.compensation->command, [this](const participant::Command& c) { return handle(c); });
        }
      }
    }
    std::sort(topics_.begin(), topics_.end());
    topics_.erase(std::unique(topics_.begin(), topics_.end()), topics_.end());
  }

  ~World() {
    try {
      if (engine) engine->close();
    } catch (const SimulatedCrash&) {
    }
    crash();
    fs::remove_all(dir_);
  }

  // The store's `state:` setting: the SQLite file's path, or the database's URL.
  std::string db() const { return site_; }
  // A second, read-only view of the store, as `sagactl status` opens it.
  std::unique_ptr<state::Store> reader() const {
    auto r = cli::open_store({.state = site_, .synchronous_full = true, .read_only = true, .owner = "reader"});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // --- the participant's behaviour: success by default ---
  std::function<participant::Reply(const participant::Command&)> behaviour = [](const participant::Command& c) { return participant::Reply::ok(success_body(c)); };
  std::function<int(const participant::Command&)> copies = [](const participant::Command&) { return 1; };
  std::vector<participant::Command> handled;  // every handler call, in order
  std::map<std::string, int> calls() const { return core_->calls(); }

  // --- faults of the next incarnation's store ---
  std::function<void(FaultyStore&)> faults;
  EngineOptions options;

  std::vector<sagas::DefinitionPtr> loaded;

  void boot() {
    Status st = try_boot();
    ASSERT_TRUE(st.ok()) << st.message;
  }

  Status try_boot() {
    io = std::make_unique<boost::asio::io_context>();
    clock = std::make_unique<testing_support::ManualClock>(*io, now_);
    auto opened = cli::open_store({.state = site_, .synchronous_full = true, .read_only = false, .owner = "engine test"});
    if (!opened.ok()) return from_store(opened.error());
    real_ = std::move(opened).value();
    store = std::make_unique<FaultyStore>(*real_);
    if (faults) faults(*store);
    transport = std::make_unique<wire::InProcessTransport>(*io, bus);
    participant_ = std::make_unique<participant::InProcessParticipant>(*io, bus, topics_, core_);
    participant_->copies = [this](const participant::Command& c) { return copies(c); };
    engine = std::make_unique<Engine>(*io, *store, *transport, *clock, options);
    for (const auto& d : loaded) engine->add(d);
    engine->on_event([this](const Event& e) { events.push_back(e); });
    ++boots;
    return engine->open();
  }

  // Abandons the orchestrator as kill -9 would: nothing is flushed or closed.
  void crash() {
    if (clock) now_ = clock->now();
    engine.reset();
    participant_.reset();
    transport.reset();
    store.reset();
    real_.reset();
    clock.reset();
    io.reset();
  }

  // Runs everything that is ready. A simulated crash restarts the orchestrator and goes on.
  void settle() {
    for (int guard = 0; guard < 100000; ++guard) {
      try {
        io->restart();
        if (io->poll() > 0) continue;
        if (!engine || !engine->committing()) return;
        io->run_one_for(std::chrono::seconds(5));  // the writer thread's outcome
      } catch (const SimulatedCrash&) {
        ++crashes;
        crash();
        boot();
      }
    }
    FAIL() << "the engine never became idle";
  }

  // Settles, and moves time to each next timer until the saga is in a terminal state.
  SagaState run(const SagaId& id, int max_timers = 10000) {
    for (int i = 0; i < max_timers; ++i) {
      settle();
      auto s = engine->status(id);
      if (!s) {
        ADD_FAILURE() << "no saga " << id.value();
        return SagaState::running;
      }
      if (sagas::is_terminal(s->state)) return s->state;
      auto next = clock->next_wake();
      if (!next) {
        ADD_FAILURE() << "saga " << id.value() << " is " << sagas::to_string(s->state) << " and nothing is due";
        return s->state;
      }
      clock->set(*next);
    }
    ADD_FAILURE() << "saga " << id.value() << " did not finish";
    return SagaState::running;
  }

  SagaId start(const std::string& saga, const std::string& input_json, std::optional<std::string> id = {}) {
    auto input = Json::parse(input_json);
    EXPECT_TRUE(input.ok());
    auto r = engine->start(saga, *input, StartOptions{std::move(id)});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->id : SagaId();
  }

  // The commands the engine published, in order: "execute:reserve-stock#1".
  std::vector<std::string> commands(const std::string& action = "") const {
    std::vector<std::string> out;
    for (const auto& m : published) {
      const std::string* a = m.header(wire::header::kAction);
      const std::string* s = m.header(wire::header::kStep);
      const std::string* n = m.header(wire::header::kAttempt);
      if (m.header(wire::header::kMessageId) == nullptr || a == nullptr || s == nullptr) continue;
      if (!action.empty() && *a != action) continue;
      out.push_back((action.empty() ? *a + ":" : "") + *s + (n ? "#" + *n : ""));
    }
    return out;
  }

  std::vector<std::string> event_types(const SagaId& id) const {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.saga_id == id) out.push_back(std::string(sagas::to_string(e.type)) + (e.step.empty() ? "" : ":" + e.step));
    }
    return out;
  }

  wire::Bus bus;
  std::vector<wire::Message> published;
  std::vector<Event> events;
  int crashes = 0;
  int boots = 0;
  std::unique_ptr<boost::asio::io_context> io;
  std::unique_ptr<testing_support::ManualClock> clock;
  std::unique_ptr<FaultyStore> store;
  std::unique_ptr<wire::InProcessTransport> transport;
  std::unique_ptr<Engine> engine;

 private:
  participant::Reply handle(const participant::Command& c) {
    handled.push_back(c);
    return behaviour(c);
  }

  std::vector<sagas::DefinitionPtr> defs_;
  std::string site_;
  fs::path dir_;
  std::vector<std::string> topics_;
  std::shared_ptr<participant::ParticipantCore> core_;
  std::unique_ptr<state::Store> real_;
  std::unique_ptr<participant::InProcessParticipant> participant_;
  TimeMs now_ = 1'700'000'000'000;
};

}  // namespace engine_test
