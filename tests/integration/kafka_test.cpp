// Sagas over the real Kafka protocol: the orchestrator (engine + KafkaTransport + SQLite)
// and participant services (participant::Participant) talk through the development broker.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>

#include "tests/support/must.h"
#include "tests/e2e/process.h"
#include "tests/integration/kafka_world.h"

namespace kafka_test {
using testing_support::must;

namespace {

TEST(Kafka, ASagaCompletesAcrossTheBroker) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-1", "order-1");
  EXPECT_EQ(w.finish(id), SagaState::completed);
  for (const char* step : {"reserve", "pay", "invoice", "confirm"}) {
    EXPECT_EQ(w.calls("order-1/" + std::string(step) + "/execute"), 1) << step;
  }
  // The commands carried every header of docs/protocol.md.
  auto it = std::find_if(w.handled.begin(), w.handled.end(), [](const participant::Command& c) { return c.step == "reserve"; });
  ASSERT_NE(it, w.handled.end());
  EXPECT_EQ(it->saga, "shop");
  EXPECT_EQ(it->attempt, 1u);
  EXPECT_EQ(it->idempotency_key, "order-1/reserve/execute");
  EXPECT_EQ(it->payload.dump(), R"({"order":"o-1"})");
}


std::vector<std::string> compensations(const KafkaWorld& w) {
  std::vector<std::string> out;
  for (const auto& c : w.handled) {
    if (c.action == "compensate") out.push_back(c.step);
  }
  return out;
}

TEST(Kafka, ABusinessFailureIsCompensatedInReverseOrder) {
  KafkaWorld w;
  w.behaviour = [](const participant::Command& c) {
    return c.step == "invoice" && c.action == "execute" ? participant::Reply::failure("no invoice") : participant::Reply::ok();
  };
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-2", "order-2");
  EXPECT_EQ(w.finish(id), SagaState::compensated);
  EXPECT_EQ(compensations(w), (std::vector<std::string>{"pay", "reserve"}));
  EXPECT_EQ(w.calls("order-2/invoice/execute"), 1);
}

TEST(Kafka, ParallelCompensationSendsEveryUndoAtOnce) {
  KafkaWorld w("parallel");
  w.behaviour = [](const participant::Command& c) {
    return c.step == "confirm" && c.action == "execute" ? participant::Reply::failure("rejected") : participant::Reply::ok();
  };
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-3", "order-3");
  EXPECT_EQ(w.finish(id), SagaState::compensated);
  auto undone = compensations(w);
  EXPECT_EQ(std::set<std::string>(undone.begin(), undone.end()), (std::set<std::string>{"reserve", "pay", "invoice"}));
  // All three were sent before any came back.
  std::vector<std::string> events;
  for (const auto& h : must(w.engine->history(id))) {
    if (h.event == sagas::EventType::compensation_step_started || h.event == sagas::EventType::step_compensated) events.push_back(std::string(sagas::to_string(h.event)));
  }
  ASSERT_EQ(events.size(), 6u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(events[i], "compensation-step-started");
}

TEST(Kafka, ATimedOutStepIsRetriedWithTheSameKeyThenCompensated) {
  KafkaWorld w;
  w.copies = [](const participant::Command& c) { return c.step == "pay" && c.action == "execute" ? 0 : 1; };
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-4", "order-4");
  EXPECT_EQ(w.finish_firing_timers(id), SagaState::compensated);
  auto sent = w.read_topic(w.topic("payments"), 4);  // 3 attempts and the refund
  std::vector<std::string> attempts;
  for (const auto& m : sent) {
    if (*m.header("saga-action") != "execute") continue;
    attempts.push_back(*m.header("attempt"));
    EXPECT_EQ(*m.header("idempotency-key"), "order-4/pay/execute");
  }
  EXPECT_EQ(attempts, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(w.calls("order-4/pay/execute"), 1);  // the retries got the recorded reply
  auto undone = compensations(w);
  EXPECT_EQ(std::set<std::string>(undone.begin(), undone.end() - 1), (std::set<std::string>{"pay", "invoice"}));
  EXPECT_EQ(undone.back(), "reserve");
}

// A C++ participant with a handler deadline: a handler that hangs is left to finish on its
// thread, the commands behind it are served, and its late success answers the next attempt
// from the reply log (the handler runs once).
TEST(Kafka, AParticipantHandlerPastItsDeadlineIsLeftToFinishAndTheNextCommandsAreServed) {
  KafkaWorld w;
  w.handler_timeout = std::chrono::milliseconds(300);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> slow_runs{0};
  w.behaviour = [&](const participant::Command& c) {
    if (c.saga_id == "slow-1" && c.step == "reserve" && c.action == "execute") {
      ++slow_runs;
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::seconds(60), [&] { return release; });  // a hung dependency
    }
    return participant::Reply::ok();
  };
  w.start_participants();
  w.start_orchestrator();
  SagaId slow = w.start("o-slow", "slow-1");
  ASSERT_TRUE(w.run_until([&] { return slow_runs == 1; }));
  SagaId quick = w.start("o-quick", "quick-1");
  // Behind the hung command on the same topic, served once its deadline passed; the manual
  // clock never moves, so no orchestrator timeout helps.
  EXPECT_TRUE(w.run_until([&] { return w.state_of(quick) == SagaState::completed; }));
  EXPECT_EQ(w.overdue(), 1u);
  EXPECT_EQ(w.state_of(slow), SagaState::running);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(w.run_until([&] { return w.overdue() == 0; }));
  EXPECT_EQ(w.finish_firing_timers(slow), SagaState::completed);  // attempt 2 answered from the reply log
  EXPECT_EQ(slow_runs, 1);
  EXPECT_EQ(w.calls("slow-1/reserve/execute"), 1);
}

TEST(Kafka, DuplicateRepliesAreIgnored) {
  KafkaWorld w;
  w.copies = [](const participant::Command&) { return 2; };
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-5", "order-5");
  EXPECT_EQ(w.finish(id), SagaState::completed);
  w.run_until([&] { return w.engine->stats().duplicates >= 4; }, std::chrono::seconds(5));
  EXPECT_GE(w.engine->stats().duplicates, 4u);
  for (const auto& [key, n] : w.all_calls()) EXPECT_EQ(n, 1) << key;
}

TEST(Kafka, ALateReplyToAnEarlierAttemptCounts) {
  KafkaWorld w;
  w.copies = [](const participant::Command& c) { return c.step == "reserve" ? 0 : 1; };
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-6", "order-6");
  ASSERT_TRUE(w.run_until([&] { return !w.handled.empty(); }));
  w.clock->set(*w.clock->next_wake());  // attempt 1 times out; attempt 2 after the backoff
  auto first = w.read_topic(w.topic("inventory"), 1).front();
  ASSERT_EQ(*first.header("attempt"), "1");
  w.copies = [](const participant::Command&) { return 1; };
  w.produce(wire::reply_message(first, true, Json::object()));
  EXPECT_EQ(w.finish_firing_timers(id), SagaState::completed);
  auto hist = must(w.engine->history(id));
  EXPECT_TRUE(std::any_of(hist.begin(), hist.end(), [](const auto& h) {
    return h.event == sagas::EventType::step_succeeded && h.step == "reserve" && h.detail.find("attempt 1") != std::string::npos;
  }));
}

TEST(Kafka, MalformedRepliesGoToTheDeadLetterTopicWithAnErrorHeader) {
  KafkaWorld w;
  w.copies = [](const participant::Command& c) { return c.step == "reserve" ? 0 : 1; };
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-7", "order-7");
  ASSERT_TRUE(w.run_until([&] { return !w.handled.empty(); }));
  auto command = w.read_topic(w.topic("inventory"), 1).front();
  wire::Message good = wire::reply_message(command, true, Json::object());
  auto with = [&](const std::string& name, const std::string& value) {
    wire::Message m = good;
    for (auto& [k, v] : m.headers) {
      if (k == name) v = value;
    }
    return m;
  };
  wire::Message bad_json = good;
  bad_json.value = "{oops";
  wire::Message no_header = good;
  std::erase_if(no_header.headers, [](const auto& h) { return h.first == "in-reply-to"; });
  wire::Message ghost = with("saga-id", "ghost");
  ghost.key = "ghost";
  std::vector<std::pair<wire::Message, std::string>> bad = {
      {bad_json, "not JSON"},
      {no_header, "missing header \"in-reply-to\""},
      {ghost, "unknown saga id \"ghost\""},
      {with("saga-step", "fly"), "has no step \"fly\""},
      {with("outcome", "perhaps"), "must be success or failure"},
  };
  for (const auto& [m, why] : bad) w.produce(m);
  ASSERT_TRUE(w.run_until([&] { return w.engine->stats().dead_letters >= bad.size(); }));
  auto dlq = w.read_topic(w.topic("replies.dlq"), bad.size());
  ASSERT_EQ(dlq.size(), bad.size());
  std::multiset<std::string> errors;
  for (const auto& m : dlq) {
    ASSERT_NE(m.header("error"), nullptr);
    errors.insert(*m.header("error"));
    EXPECT_NE(m.header("saga-step"), nullptr);  // the original headers travel with it
  }
  for (const auto& entry : bad) {
    const std::string& why = entry.second;  // a plain name: clang 14 cannot capture structured bindings
    EXPECT_TRUE(std::any_of(errors.begin(), errors.end(), [&](const auto& e) { return e.find(why) != std::string::npos; }))
        << why;
  }
  // The engine carried on.
  w.copies = [](const participant::Command&) { return 1; };
  EXPECT_EQ(w.finish_firing_timers(id), SagaState::completed);
}

TEST(Kafka, TheStartTopicStartsASagaOncePerIdAndRefusesTheIdWithAnotherInput) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  wire::Message start{w.topic("start"), "trip-1", {{"saga-name", "shop"}, {"saga-id", "started-1"}}, R"({"order": "o-8"})"};
  w.produce(start);
  w.produce(start);
  wire::Message unknown{w.topic("start"), "x", {{"saga-name", "nope"}}, "{}"};
  w.produce(unknown);
  wire::Message other_input = start;
  other_input.value = R"({"order": "o-9"})";
  w.produce(other_input);
  ASSERT_TRUE(w.run_until([&] { return w.state_of(SagaId("started-1")).has_value(); }));
  EXPECT_EQ(w.finish(SagaId("started-1")), SagaState::completed);
  auto dlq = w.read_topic(w.topic("start.dlq"), 2);
  ASSERT_EQ(dlq.size(), 2u);
  std::string errors = *dlq[0].header("error") + "\n" + *dlq[1].header("error");
  EXPECT_NE(errors.find("no saga named \"nope\""), std::string::npos) << errors;
  EXPECT_NE(errors.find("saga started-1 exists with a different input"), std::string::npos) << errors;
  w.run_until([] { return false; }, std::chrono::milliseconds(300));  // let the duplicate arrive
  EXPECT_EQ(must(w.engine->list({})).sagas.size(), 1u);
  EXPECT_EQ(w.calls("started-1/reserve/execute"), 1);
}

TEST(Kafka, LifecycleEventsArePublishedToTheEventsTopic) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-9", "order-9");
  EXPECT_EQ(w.finish(id), SagaState::completed);
  auto events = w.read_topic(w.topic("events"), 10);
  ASSERT_FALSE(events.empty());
  auto first = Json::parse(events.front().value);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->find("type")->as_string(), "saga-started");
  EXPECT_EQ(first->find("saga_id")->as_string(), "order-9");
  EXPECT_EQ(events.front().key, "order-9");
  EXPECT_EQ(Json::parse(events.back().value)->find("type")->as_string(), "saga-completed");
}

TEST(Kafka, ABrokerOutageMidSagaLosesNothing) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  SharedBroker::get().set_down(1);
  std::vector<SagaId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(w.start("o-" + std::to_string(i), "outage-" + std::to_string(i)));
  // The broker stays away for a few seconds of real time while the engine keeps going.
  w.run_until([] { return false; }, std::chrono::seconds(3));
  for (const auto& id : ids) EXPECT_EQ(w.state_of(id), SagaState::running);
  SharedBroker::get().set_up(1);
  // No timer moves meanwhile: the sends queued during the outage go out on reconnection.
  EXPECT_TRUE(w.run_until([&] {
    return std::all_of(ids.begin(), ids.end(), [&](const SagaId& id) { return w.state_of(id) == SagaState::completed; });
  }));
  for (const auto& id : ids) EXPECT_EQ(w.state_of(id), SagaState::completed);
  for (const auto& [key, n] : w.all_calls()) EXPECT_EQ(n, 1) << key;
}

// The participants answered, but the orchestrator cannot read the replies: however far its
// clock moves meanwhile, no step whose reply stood in Kafka times out (time is the
// participant's). A command no participant had answered before the outage may time out
// after it: its reply was not there.
TEST(Kafka, ABrokerOutageNeverTurnsIntoATimeout) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  ASSERT_TRUE(w.run_until([&] { return w.engine->ready(); }));
  SagaId id = w.start("o-t", "outage-timeout");
  ASSERT_TRUE(w.run_until([&] { return !w.handled.empty(); }));
  w.stop_participants();  // flushes: every reply to what they handled is in Kafka
  std::set<std::string> answered;
  for (const auto& c : w.handled) answered.insert(c.step);
  ASSERT_GE(w.read_topic(w.topic("replies"), answered.size()).size(), answered.size());
  SharedBroker::get().set_down(1);
  w.clock->advance(10 * 60 * 1000);  // far past every timeout and retry
  w.run_until([] { return false; }, std::chrono::seconds(2));
  SharedBroker::get().set_up(1);
  w.start_participants();
  EXPECT_EQ(w.finish_firing_timers(id), SagaState::completed);
  for (const auto& h : must(w.engine->history(id))) {
    if (h.event == sagas::EventType::step_timed_out) {
      EXPECT_EQ(answered.count(h.step), 0u) << h.step << " had its reply in Kafka: " << h.detail;
    }
  }
  EXPECT_TRUE(compensations(w).empty());
}

TEST(Kafka, TheOrchestratorIsReadyOnceItHasCaughtUpWithItsReplyPartitions) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  EXPECT_FALSE(w.engine->ready()) << "nothing consumed yet";
  EXPECT_TRUE(w.run_until([&] { return w.engine->ready(); }));
}

// A second orchestrator (another state file) on the same group and reply topic would take
// the first one's replies: it is refused, with the first one named. The first one restarted
// (same owner) is not.
TEST(Kafka, ASecondOrchestratorOnTheSameGroupIsRefusedNamingTheFirst) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-s", "second-1");
  EXPECT_EQ(w.finish(id), SagaState::completed);  // offsets committed, naming the owner
  boost::asio::io_context io;
  kafka::KafkaOptions o = w.kafka_options("sagactl-" + w.prefix());
  o.owner = "other-host:/elsewhere/state.db";
  auto second = kafka::KafkaTransport::create(io, o);
  ASSERT_TRUE(second.ok()) << second.error();
  auto refused = (*second)->subscribe({w.topic("replies")});
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->find("test-host:"), std::string::npos) << *refused;
  EXPECT_NE(refused->find("kafka.group"), std::string::npos) << *refused;

  o.owner = "test-host:" + (w.dir() / "state.db").string();
  auto same = kafka::KafkaTransport::create(io, o);
  ASSERT_TRUE(same.ok()) << same.error();
  EXPECT_FALSE((*same)->subscribe({w.topic("replies")}).has_value());
}

TEST(Kafka, SagactlRunRefusesAGroupWhoseOffsetsNameAnotherOrchestrator) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  EXPECT_EQ(w.finish(w.start("o-r", "refuse-1")), SagaState::completed);
  auto r = testing_support::run_process(
      {SAGACTL_BIN, "run", "--sagas", w.saga_file(), "--state", (w.dir() / "second.db").string(), "--brokers",
       SharedBroker::get().bootstrap(), "--group", "sagactl-" + w.prefix(), "--events-topic", "", "--start-topic",
       w.topic("start"), "--admin", "", "--log-level", "off"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("test-host:"), std::string::npos) << "names the first: " << r.err;
  EXPECT_NE(r.err.find("kafka.group"), std::string::npos) << "says what to do: " << r.err;
}

TEST(Kafka, InvalidKafkaPropertiesAreRefusedWithLibrdkafkasMessage) {
  boost::asio::io_context io;
  kafka::KafkaOptions o;
  o.brokers = SharedBroker::get().bootstrap();
  o.properties = {{"no.such.property", "1"}};
  auto t = kafka::KafkaTransport::create(io, o);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().find("No such configuration property: \"no.such.property\""), std::string::npos) << t.error();
  o.properties = {{"acks", "sometimes"}};
  auto bad_value = kafka::KafkaTransport::create(io, o);
  ASSERT_FALSE(bad_value.ok());
  EXPECT_NE(bad_value.error().find("acks"), std::string::npos) << bad_value.error();
}

TEST(Kafka, TheOrchestratorConsumesRepliesAsAConsumerGroupMember) {
  KafkaWorld w;
  w.orchestrator_consume = kafka::KafkaOptions::Consume::group;  // joining costs the mock ~3 s
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-g", "group-1");
  // No timer moves while the group forms; the replies wait in the topic meanwhile.
  EXPECT_TRUE(w.run_until([&] { return w.state_of(id) == SagaState::completed; }));
}

// A member killed without leaving keeps its partitions until its session runs out, and a
// participant may reply on any partition: timers must wait until this orchestrator owns
// every reply partition, not fire after a barrier over the ones it has.
TEST(Kafka, TimersWaitWhileAnotherGroupMemberHoldsAReplyPartition) {
  KafkaWorld w;
  w.orchestrator_consume = kafka::KafkaOptions::Consume::group;
  boost::asio::io_context squatter_io;  // never run: the squatter only holds partitions
  kafka::KafkaOptions o = w.kafka_options("sagactl-" + w.prefix());
  o.consume = kafka::KafkaOptions::Consume::group;
  auto squatter = kafka::KafkaTransport::create(squatter_io, o);
  ASSERT_TRUE(squatter.ok()) << squatter.error();
  ASSERT_FALSE((*squatter)->subscribe({w.topic("replies"), w.topic("start")}).has_value());
  ASSERT_TRUE(w.run_until([&] { return (*squatter)->ready(); }, std::chrono::seconds(60)));
  EXPECT_EQ((*squatter)->consumed_partitions().owned, 4u);

  w.start_orchestrator();  // no participants: every command goes unanswered
  SagaId id = w.start("o-q", "squat-1");
  ASSERT_TRUE(w.run_until([&] { return w.transport->consumed_partitions().owned > 0; }, std::chrono::seconds(60)))
      << "the group gives the orchestrator some of the partitions";
  EXPECT_LT(w.transport->consumed_partitions().owned, 4u);
  EXPECT_EQ(w.transport->consumed_partitions().of, 4u);
  w.clock->advance(10 * 60 * 1000);  // far past every timeout and retry
  w.run_until([] { return false; }, std::chrono::seconds(2));
  EXPECT_FALSE(w.engine->ready());
  EXPECT_EQ(must(w.engine->status(id)).steps[0].attempts, 1u) << "no timer fired";

  squatter->reset();  // leaves the group: the orchestrator gets every partition
  ASSERT_TRUE(w.run_until([&] { return w.engine->ready(); }, std::chrono::seconds(60)));
  auto timed_out = [&] {
    auto h = must(w.engine->history(id));
    return std::any_of(h.begin(), h.end(), [](const auto& r) { return r.event == sagas::EventType::step_timed_out; });
  };
  EXPECT_TRUE(w.run_until(timed_out)) << "the overdue timeout fires once every partition is caught up with";
}

// A participant restarted with the same reply log answers a repeated command from memory.
TEST(Kafka, AParticipantRemembersItsRepliesAcrossARestart) {
  KafkaWorld w;
  w.start_participants();
  w.start_orchestrator();
  SagaId id = w.start("o-r", "remember-1");
  EXPECT_EQ(w.finish(id), SagaState::completed);
  auto command = w.read_topic(w.topic("inventory"), 1).front();
  w.stop_participants();
  w.handled.clear();
  w.start_participants();
  auto before = w.engine->stats().duplicates;
  w.produce(command);  // the same command again, as a resend after a crash would be
  // The reply reaches the orchestrator again (a late duplicate there)...
  EXPECT_TRUE(w.run_until([&] { return w.engine->stats().duplicates > before; }));
  // ...answered from the reply log: the handler did not run.
  EXPECT_TRUE(w.handled.empty());
}

// kill -9 of `sagactl run` mid-saga, then a restart: every saga completes, and every
// participant handler ran once per idempotency key.
TEST(Kafka, AKilledOrchestratorProcessResumesAndAppliesNothingTwice) {
  KafkaWorld w;
  bool hold_confirm = true;
  w.copies = [&](const participant::Command& c) { return c.step == "confirm" && hold_confirm ? 0 : 1; };
  w.start_participants();
  std::string db = (w.dir() / "orchestrator.db").string();
  std::vector<std::string> args = {SAGACTL_BIN, "run", "--sagas", w.saga_file(), "--state", db,
                                   "--brokers", SharedBroker::get().bootstrap(), "--consume", "assign",
                                   "--group", "orchestrator-" + w.prefix(), "--events-topic", "",
                                   "--start-topic", w.topic("start"), "--fetch-wait-ms", "5", "--log-level", "warn",
                                   // No admin endpoint: the default address may be another test's.
                                   "--admin", ""};
  auto orchestrator = std::make_unique<testing_support::BackgroundProcess>(args);
  std::vector<std::string> ids = {"k-1", "k-2", "k-3"};
  for (const auto& id : ids) {
    w.produce(wire::Message{w.topic("start"), id, {{"saga-name", "shop"}, {"saga-id", id}}, R"({"order": "o"})"});
  }
  auto confirms = [&] {
    return std::count_if(w.handled.begin(), w.handled.end(), [](const participant::Command& c) { return c.step == "confirm"; });
  };
  ASSERT_TRUE(w.run_until([&] { return confirms() == 3; })) << orchestrator->err();
  orchestrator->signal(SIGKILL);
  EXPECT_EQ(orchestrator->wait(), -SIGKILL);

  hold_confirm = false;
  orchestrator = std::make_unique<testing_support::BackgroundProcess>(args);
  auto all_completed = [&] {
    auto store = state::SqliteStore::open({db, true, true});
    if (!store) return false;
    return std::all_of(ids.begin(), ids.end(), [&](const std::string& id) {
      auto inst = must((*store)->load(id));
      return inst && inst->state == SagaState::completed;
    });
  };
  EXPECT_TRUE(w.run_until(all_completed)) << orchestrator->err();
  orchestrator->signal(SIGTERM);
  EXPECT_EQ(orchestrator->wait(), 0) << orchestrator->err();
  for (const auto& [key, n] : w.all_calls()) EXPECT_EQ(n, 1) << key;
  EXPECT_EQ(w.all_calls().size(), ids.size() * 4);
}

}  // namespace
}  // namespace kafka_test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new kafka_test::SharedBroker);
  return RUN_ALL_TESTS();
}
