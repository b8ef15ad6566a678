// docs/protocol.md is the contract participants in other languages are written from: every
// header the engine writes or reads, every event type, the topics and the broker's default
// port appear in it where they belong, so the page cannot drift from the code.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "dsl/compiler.h"
#include "wire/protocol.h"
#include "participant/core.h"
#include "cli/config.h"
#include "kafka/dev_broker.h"
#include "sagas/event_type.h"

namespace {

std::string doc() {
  std::ifstream in(std::string(SAGACTL_SOURCE_DIR) + "/docs/protocol.md");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The text of the section headed `## title`, up to the next `## `.
std::string section(const std::string& text, const std::string& title) {
  auto at = text.find("\n## " + title);
  if (at == std::string::npos) return "";
  auto end = text.find("\n## ", at + 1);
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// A table row for `name`: "| `name` |".
bool has_row(const std::string& text, const std::string& name) {
  return text.find("| `" + name + "` |") != std::string::npos;
}

sagas::DefinitionPtr saga() {
  auto compiled = dsl::compile(R"(apiVersion: saga/v1
saga: s
steps:
  - {name: a, topic: t, command: DoA, payload: {}, compensation: {command: UndoA, payload: {}}}
)",
                               "s.yaml");
  return compiled.definition;
}

TEST(ProtocolDoc, EveryCommandHeaderHasARowInTheCommandsTable) {
  auto def = saga();
  ASSERT_TRUE(def);
  sagas::SendCommand send;
  send.step = sagas::StepIndex{0};
  send.message_id = "id/a/execute/1";
  send.idempotency_key = "id/a/execute";
  send.topic = "t";
  send.command = "DoA";
  send.expires_at = 1'764'000'000'000;
  auto command = wire::command_message(*def, "id", send);
  std::string commands = section(doc(), "Commands");
  ASSERT_FALSE(commands.empty()) << "docs/protocol.md has no \"## Commands\" section";
  for (const auto& [name, value] : command.headers) EXPECT_TRUE(has_row(commands, name)) << name;
  EXPECT_NE(commands.find("`<saga-id>/<step>/<action>`"), std::string::npos) << "the idempotency key's form";
}

TEST(ProtocolDoc, EveryReplyHeaderHasARowInTheRepliesTableAndReadsAsDocumented) {
  auto def = saga();
  ASSERT_TRUE(def);
  sagas::SendCommand send{sagas::StepIndex{0}, sagas::CommandKind::execute, sagas::Attempt{1}, "m", "k", "t", "DoA", {}};
  auto reply = wire::reply_message(wire::command_message(*def, "id", send), false,
                                             participant::Reply::failure("no").body);
  std::string replies = section(doc(), "Replies");
  ASSERT_FALSE(replies.empty());
  for (const auto& [name, value] : reply.headers) EXPECT_TRUE(has_row(replies, name)) << name;
  EXPECT_NE(replies.find(R"({"error": )"), std::string::npos) << "the failure body";
  EXPECT_NE(replies.find(std::string(wire::header::kError)), std::string::npos);
  EXPECT_TRUE(wire::parse_reply(reply).ok());
}

TEST(ProtocolDoc, TheStartTopicsHeadersAreTheOnesTheEngineReads) {
  std::string start = section(doc(), "Starting a saga through Kafka");
  namespace h = wire::header;
  for (auto name : {h::kSagaName, h::kSagaId, h::kIdempotencyKey}) EXPECT_TRUE(has_row(start, std::string(name))) << name;
  wire::Message m{"sagas.start", "", {{std::string(h::kIdempotencyKey), "k-1"}, {std::string(h::kSagaName), "s"}}, ""};
  auto parsed = wire::parse_start(m);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->id, "k-1");
  EXPECT_TRUE(parsed->input.is_object()) << "an empty value is {}";
}

TEST(ProtocolDoc, EveryEventTypeAndTheDefaultTopicsAndPortAreNamed) {
  std::string text = doc();
  std::string events = section(text, "Lifecycle events");
  for (int i = 0;; ++i) {
    auto type = static_cast<sagas::EventType>(i);
    std::string name(sagas::to_string(type));
    if (name == "unknown") break;
    EXPECT_NE(events.find("`" + name + "`"), std::string::npos) << name;
  }
  cli::Config defaults;
  std::string topics = section(text, "Topics");
  for (const auto& topic : {defaults.kafka.start_topic, defaults.kafka.start_topic + ".dlq", defaults.kafka.events_topic}) {
    EXPECT_NE(topics.find("| `" + topic + "`"), std::string::npos) << topic;
  }
  EXPECT_NE(text.find(std::to_string(kafka::DevBroker::kDefaultPort)), std::string::npos);
  EXPECT_EQ(defaults.kafka.embedded_port, kafka::DevBroker::kDefaultPort);
}

}  // namespace
