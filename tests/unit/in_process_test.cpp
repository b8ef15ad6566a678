// The in-process bus keeps Kafka's consumption model; the protocol helpers read and write
// docs/protocol.md messages; the participant core deduplicates and answers empty compensations.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <regex>

#include "dsl/compiler.h"
#include "wire/in_process.h"
#include "participant/core.h"
#include "wire/protocol.h"

namespace {

using namespace wire;
using sagas::Json;

wire::Message msg(const std::string& topic, const std::string& value) { return {topic, "k", {}, value}; }

std::vector<std::string> values(const std::vector<wire::Received>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.message.value);
  return out;
}

TEST(Bus, OnlyTheAcknowledgedPrefixSurvivesAConsumerAndTheRestIsRedelivered) {
  wire::Bus bus;
  for (int i = 0; i < 5; ++i) bus.publish(msg("t", std::to_string(i)));
  auto c = bus.attach("g", [] {});
  bus.add_topics(c, {"t"});
  auto got = bus.poll(c, 10);
  ASSERT_EQ(values(got), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  std::vector<std::uint64_t> acks = {got[0].token, got[1].token, got[3].token};
  bus.commit(c, acks);
  bus.detach(c);
  auto again = bus.attach("g", [] {});
  bus.add_topics(again, {"t"});
  EXPECT_EQ(values(bus.poll(again, 10)), (std::vector<std::string>{"2", "3", "4"}));
  auto other = bus.attach("other-group", [] {});
  bus.add_topics(other, {"t"});
  EXPECT_EQ(bus.poll(other, 10).size(), 5u);
}

TEST(Bus, ConsumersAreNotifiedOfNewMessagesOnTheirTopicsOnly) {
  wire::Bus bus;
  int woken = 0;
  auto c = bus.attach("g", [&] { ++woken; });
  bus.add_topics(c, {"mine"});
  bus.publish(msg("other", "x"));
  EXPECT_EQ(woken, 0);
  bus.publish(msg("mine", "y"));
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(values(bus.poll(c, 10)), std::vector<std::string>{"y"});
}

wire::Message command(const std::string& action = "execute", const std::string& step = "pay") {
  wire::Message m{"payments.commands", "s-1", {}, R"({"amount": 5})"};
  m.headers = {{"saga-id", "s-1"},       {"saga-name", "shop"},
               {"saga-version", "1"},    {"saga-step", step},
               {"saga-action", action},  {"saga-command", action == "execute" ? "Pay" : "Refund"},
               {"message-id", "s-1/" + step + "/" + action + "/1"},
               {"idempotency-key", "s-1/" + step + "/" + action},
               {"reply-to", "shop.replies"}, {"attempt", "1"}};
  return m;
}

TEST(Protocol, AReplyMirrorsItsCommandAndParsesBack) {
  wire::Message reply = wire::reply_message(command(), true, *Json::parse(R"({"chargeId": "c-1"})"));
  EXPECT_EQ(reply.topic, "shop.replies");
  EXPECT_EQ(reply.key, "s-1");
  auto parsed = wire::parse_reply(reply);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->saga_id, "s-1");
  EXPECT_EQ(parsed->step, "pay");
  EXPECT_EQ(parsed->in_reply_to, "s-1/pay/execute/1");
  EXPECT_TRUE(parsed->success);
  EXPECT_EQ(parsed->body.dump(), R"({"chargeId":"c-1"})");
}

TEST(Protocol, AReplyGoesToThePartitionItsCommandNamesInEitherConvention) {
  EXPECT_EQ(wire::reply_message(command(), true, Json::object()).partition, wire::Message::kAnyPartition)
      << "no header: by key";
  wire::Message ours = command();
  ours.headers.emplace_back("reply-partition", "2");
  EXPECT_EQ(wire::reply_message(ours, true, Json::object()).partition, 2);
  wire::Message spring = command();
  spring.headers.emplace_back("kafka_replyPartition", std::string("\0\0\x01\x05", 4));  // Spring: 4 bytes, big-endian
  EXPECT_EQ(wire::reply_message(spring, true, Json::object()).partition, 261);
  wire::Message both = spring;
  both.headers.emplace_back("reply-partition", "7");
  EXPECT_EQ(wire::reply_message(both, true, Json::object()).partition, 7) << "ours first";
  for (const std::string bad : {"-1", "x", "", "1.5", "99999999999"}) {
    wire::Message m = command();
    m.headers.emplace_back("reply-partition", bad);
    EXPECT_EQ(wire::reply_message(m, true, Json::object()).partition, wire::Message::kAnyPartition) << bad;
  }
}

TEST(Protocol, EachKindOfMalformedReplySaysWhatIsWrong) {
  wire::Message good = wire::reply_message(command(), false, Json::object());
  auto with = [&](const std::string& name, const std::string& value) {
    wire::Message m = good;
    for (auto& [k, v] : m.headers) {
      if (k == name) v = value;
    }
    return m;
  };
  EXPECT_EQ(wire::parse_reply(with("outcome", "ok")).error().message,
            "header \"outcome\" is \"ok\"; it must be success or failure");
  EXPECT_EQ(wire::parse_reply(with("saga-action", "x")).error().message,
            "header \"saga-action\" is \"x\"; it must be execute or compensate");
  EXPECT_EQ(wire::parse_reply(with("saga-id", "")).error().message, "missing header \"saga-id\"");
  wire::Message bad_json = good;
  bad_json.value = "[1,";
  EXPECT_EQ(wire::parse_reply(bad_json).error().message.rfind("the value is not JSON: ", 0), 0u);
}

TEST(Protocol, ADeadLetterOverTheLimitIsCutAndSaysSo) {
  wire::Message big = wire::reply_message(command(), true, Json::object());
  big.value = std::string(50'000, 'x');
  wire::Message d = wire::dead_letter(big, "r.dlq", "too big", 20'000);
  EXPECT_LE(d.value.size() + d.key.size(), 20'000u);
  ASSERT_NE(d.header("truncated"), nullptr);
  EXPECT_NE(d.header("truncated")->find("of 50000 bytes"), std::string::npos) << *d.header("truncated");
  EXPECT_EQ(*d.header("error"), "too big");
  wire::Message small = wire::dead_letter(wire::reply_message(command(), true, Json::object()), "r.dlq", "e", 20'000);
  EXPECT_EQ(small.header("truncated"), nullptr);
}

TEST(Protocol, RepliesThatContradictThemselvesOrAreNotObjectsAreRefused) {
  wire::Message good = wire::reply_message(command(), true, Json::object());
  ASSERT_TRUE(wire::parse_reply(good).ok());
  wire::Message twice = good;
  twice.headers.emplace_back("outcome", "failure");
  EXPECT_EQ(wire::parse_reply(twice).error().message,
            "header \"outcome\" appears 2 times; a reply carries each header once");
  wire::Message other_key = good;
  other_key.key = "another-saga";
  EXPECT_NE(wire::parse_reply(other_key).error().message.find("name different sagas"), std::string::npos);
  for (const char* value : {"[1,2]", "42", "\"text\"", "null"}) {
    wire::Message m = good;
    m.value = value;
    EXPECT_EQ(wire::parse_reply(m).error().message,
              "the value is JSON but not an object; a reply's value is a JSON object (or empty)")
        << value;
  }
  wire::Message latin1 = good;
  latin1.value = "{\"name\": \"M\xfcller\"}";
  EXPECT_NE(wire::parse_reply(latin1).error().message.find("invalid UTF-8"), std::string::npos);
  wire::Message utf8 = good;
  utf8.value = "{\"name\": \"M\xc3\xbcller \xf0\x9f\x93\xa6\"}";
  EXPECT_TRUE(wire::parse_reply(utf8).ok());
}

TEST(Protocol, ACommandCarriesItsAttemptsDeadlineAsExpiresAtInRfc3339) {
  auto def = dsl::compile(R"(apiVersion: saga/v1
saga: shop
steps:
  - {name: pay, topic: payments.commands, command: Pay, timeout: 2s}
)", "shop.yaml");
  ASSERT_TRUE(def.definition);
  sagas::SendCommand send = sagas::make_command(*def.definition, "s-1", sagas::StepIndex(0),
                                                sagas::CommandKind::execute, sagas::Attempt(1), Json::object());
  EXPECT_EQ(wire::command_message(*def.definition, "s-1", send).header("expires-at"), nullptr);  // unknown
  send.expires_at = 1'764'000'000'123;
  wire::Message m = wire::command_message(*def.definition, "s-1", send);
  ASSERT_NE(m.header("expires-at"), nullptr);
  EXPECT_EQ(*m.header("expires-at"), "2025-11-24T16:00:00.123Z");
  EXPECT_EQ(wire::expires_at(m), send.expires_at);
  EXPECT_EQ(wire::parse_time("2025-11-24T16:00:00Z"), 1'764'000'000'000);
  EXPECT_EQ(wire::format_time(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(wire::format_time(951'782'400'000), "2000-02-29T00:00:00.000Z");  // a leap day
  EXPECT_EQ(wire::format_time(-1), "1969-12-31T23:59:59.999Z");
  for (sagas::TimeMs t = -86'400'000LL * 800; t < 86'400'000LL * 365 * 90; t += 86'400'000LL * 37 + 3'723'456) {
    ASSERT_EQ(wire::parse_time(wire::format_time(t)), t) << wire::format_time(t);
  }
  EXPECT_EQ(wire::parse_time("2025-11-24T16:00:00.1234Z"), 1'764'000'000'123);
  for (const char* bad : {"", "2025-11-24", "2025-11-24T16:00:00", "2025-11-24T16:00:00.Z", "2025-13-24T16:00:00Z",
                          "2025-11-24T16:00:00+01:00", "yesterday"}) {
    EXPECT_FALSE(wire::parse_time(bad)) << bad;
  }
}

// The event's value is the documented object, field for field, its texts escaped.
TEST(Protocol, ALifecycleEventIsTheDocumentedJsonWithItsHeaders) {
  wire::Message e = wire::event_message("sagas.events", "o-7", "order-fulfilment", 2, sagas::EventType::step_failed,
                                     "charge-card", "declined: \"insufficient\"\n", 1'764'000'000'123);
  EXPECT_EQ(e.topic, "sagas.events");
  EXPECT_EQ(e.key, "o-7");
  EXPECT_EQ(e.headers, (wire::Headers{{"saga-id", "o-7"}, {"event", "step-failed"}}));
  EXPECT_EQ(e.value,
            R"({"saga_id":"o-7","saga":"order-fulfilment","version":2,"type":"step-failed","step":"charge-card",)"
            R"("detail":"declined: \"insufficient\"\n","at":"2025-11-24T16:00:00.123Z"})");
  auto parsed = Json::parse(e.value);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->find("detail")->as_string(), "declined: \"insufficient\"\n");
  wire::Message started = wire::event_message("sagas.events", "o-7", "order-fulfilment", 2,
                                           sagas::EventType::saga_started, "", "", 0);
  EXPECT_NE(started.value.find(R"("step":null,)"), std::string::npos) << started.value;
}

TEST(Protocol, TraceparentIsOneTracePerSagaAndOneSpanPerAttempt) {
  std::regex w3c("00-[0-9a-f]{32}-[0-9a-f]{16}-01");
  auto a1 = wire::traceparent("s-1", "s-1/pay/execute/1");
  auto a2 = wire::traceparent("s-1", "s-1/pay/execute/2");
  EXPECT_TRUE(std::regex_match(a1, w3c)) << a1;
  EXPECT_EQ(a1.substr(0, 35), a2.substr(0, 35));  // same trace id
  EXPECT_NE(a1, a2);                              // another span
  EXPECT_EQ(a1, wire::traceparent("s-1", "s-1/pay/execute/1"));  // a resend keeps it
  EXPECT_NE(a1.substr(0, 35), wire::traceparent("s-2", "s-2/pay/execute/1").substr(0, 35));
}

TEST(ParticipantCore, ARepeatedCommandGetsTheRecordedReplyWithoutRunningTheHandlerAgain) {
  participant::ParticipantCore core;
  int runs = 0;
  core.on("Pay", [&](const participant::Command& c) {
    ++runs;
    EXPECT_EQ(c.payload.dump(), R"({"amount":5})");
    return participant::Reply::ok(*Json::parse(R"({"chargeId": "c-)" + std::to_string(runs) + "\"}"));
  });
  auto first = core.handle(command());
  auto second = core.handle(command());
  ASSERT_TRUE(first && second);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(first->value, R"({"chargeId":"c-1"})");
  EXPECT_EQ(second->value, first->value);
}

TEST(ParticipantCore, CountsCallsPerKeyOnlyWhenAskedSoALongRunningServiceDoesNotGrow) {
  participant::ParticipantCore quiet;
  quiet.on("Pay", [](const participant::Command&) { return participant::Reply::ok(); });
  ASSERT_TRUE(quiet.handle(command()));
  EXPECT_TRUE(quiet.calls().empty());

  participant::ParticipantCore counting;
  counting.count_calls(true);
  counting.on("Pay", [](const participant::Command&) { return participant::Reply::failure("busy"); });
  counting.handle(command());
  counting.handle(command());
  ASSERT_EQ(counting.calls().size(), 1u);
  EXPECT_EQ(counting.calls().begin()->second, 2);
}

TEST(ParticipantCore, AFailedCommandDidNothingSoARetryRunsItAgain) {
  participant::ParticipantCore core;
  int runs = 0;
  core.on("Pay", [&](const participant::Command&) { return ++runs == 1 ? participant::Reply::failure("busy") : participant::Reply::ok(); });
  EXPECT_EQ(*core.handle(command())->header("outcome"), "failure");
  EXPECT_EQ(*core.handle(command())->header("outcome"), "success");
  EXPECT_EQ(runs, 2);
}

TEST(ParticipantCore, ACompensationOfANeverExecutedCommandSucceedsEmptyAndTheCommandIsThenRefused) {
  participant::ParticipantCore core;
  int pays = 0;
  int refunds = 0;
  core.on("Pay", [&](const participant::Command&) { return ++pays, participant::Reply::ok(); });
  core.on("Refund", [&](const participant::Command&) { return ++refunds, participant::Reply::ok(); });
  auto undo = core.handle(command("compensate"));
  ASSERT_TRUE(undo);
  EXPECT_EQ(*undo->header("outcome"), "success");
  EXPECT_EQ(refunds, 0);
  auto late = core.handle(command("execute"));
  EXPECT_EQ(*late->header("outcome"), "failure");
  EXPECT_NE(late->value.find("compensated before it executed"), std::string::npos);
  EXPECT_EQ(pays, 0);
}

TEST(ParticipantCore, AnExpiredCommandIsSkippedUnansweredWithoutCallingItsHandler) {
  spdlog::set_level(spdlog::level::off);
  participant::ParticipantCore core;
  std::int64_t now = 1'764'000'000'000;
  core.use_clock([&] { return now; });
  int runs = 0;
  core.on("Pay", [&](const participant::Command&) { return ++runs, participant::Reply::ok(); });
  wire::Message m = command();
  m.headers.emplace_back("expires-at", wire::format_time(now - 1));
  EXPECT_FALSE(core.handle(m));  // a new consumer group reading an old command
  EXPECT_EQ(runs, 0);
  m.headers.back().second = wire::format_time(now);
  EXPECT_TRUE(core.handle(m));  // due, not past
  EXPECT_EQ(runs, 1);
  wire::Message unreadable = command("execute", "ship");
  unreadable.headers.emplace_back("expires-at", "not a time");
  EXPECT_TRUE(core.handle(unreadable));  // an unreadable deadline is no deadline
  EXPECT_EQ(runs, 2);
}

TEST(ParticipantCore, AHandlerThrowingAnythingSendsNoReply) {
  spdlog::set_level(spdlog::level::off);
  participant::ParticipantCore core;
  core.on("Pay", [](const participant::Command&) -> participant::Reply { throw 42; });
  EXPECT_FALSE(core.handle(command()));
}

TEST(ParticipantCore, AThrowingHandlerSendsNoReplyAndRecordsNothing) {
  spdlog::set_level(spdlog::level::off);
  participant::ParticipantCore core;
  bool fail = true;
  core.on("Pay", [&](const participant::Command&) -> participant::Reply {
    if (fail) throw std::runtime_error("db down");
    return participant::Reply::ok();
  });
  EXPECT_FALSE(core.handle(command()));
  fail = false;
  EXPECT_EQ(*core.handle(command())->header("outcome"), "success");
}

}  // namespace
