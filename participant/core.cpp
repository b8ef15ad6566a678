#include "participant/core.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <chrono>

#include "wire/in_process.h"
#include "wire/protocol.h"

namespace participant {

namespace h = wire::header;

Reply Reply::failure(const std::string& error) {
  sagas::Json body = sagas::Json::object();
  body.as_object().emplace_back("error", sagas::Json(error));
  return {false, std::move(body)};
}

std::optional<Reply> MemoryDedupStore::find(const std::string& key) {
  auto it = replies_.find(key);
  if (it == replies_.end()) return std::nullopt;
  return it->second;
}

void MemoryDedupStore::put(const std::string& key, const Reply& reply) { replies_[key] = reply; }

std::optional<Command> read_command(const wire::Message& m, std::string* error) {
  Command c;
  for (auto [name, out] : {std::pair{h::kSagaId, &c.saga_id}, {h::kStep, &c.step}, {h::kAction, &c.action},
                           {h::kCommand, &c.command}, {h::kIdempotencyKey, &c.idempotency_key}}) {
    const std::string* v = m.header(name);
    if (v == nullptr) {
      if (error) *error = "missing header \"" + std::string(name) + "\"";
      return std::nullopt;
    }
    *out = *v;
  }
  if (const std::string* name = m.header(h::kSagaName)) c.saga = *name;
  if (const std::string* a = m.header(h::kAttempt)) {
    std::from_chars(a->data(), a->data() + a->size(), c.attempt);
  }
  auto payload = sagas::Json::parse(m.value);
  if (!payload) {
    if (error) *error = "the payload is not JSON: " + payload.error().message;
    return std::nullopt;
  }
  c.payload = std::move(*payload);
  return c;
}

ParticipantCore::ParticipantCore(std::shared_ptr<DedupStore> dedup)
    : dedup_(std::move(dedup)), now_([] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
      }) {}

void ParticipantCore::on(const std::string& command, Handler handler) { handlers_[command] = std::move(handler); }

std::optional<wire::Message> ParticipantCore::handle(const wire::Message& message) {
  std::string error;
  auto cmd = read_command(message, &error);
  if (!cmd) {
    spdlog::warn("participant: ignoring a message on {}: {}", message.topic, error);
    return std::nullopt;
  }
  if (auto expires = wire::expires_at(message); expires && now_() > *expires) {
    spdlog::info("participant: saga={} step={} key={}: skipped, it expired at {} ({} ms ago); the orchestrator has "
                 "timed that attempt out",
                 cmd->saga_id, cmd->step, cmd->idempotency_key, wire::format_time(*expires), now_() - *expires);
    return std::nullopt;
  }
  // A recorded failure is only ever the refusal of a command undone before it arrived.
  if (auto recorded = find(cmd->idempotency_key)) {
    return wire::reply_message(message, recorded->success, recorded->body);
  }
  std::string execute_key = cmd->saga_id + "/" + cmd->step + "/execute";
  Reply reply;
  if (cmd->action == "compensate" && !find(execute_key)) {
    // Never executed here: nothing to undo. Refuse the command should it still arrive.
    put(execute_key, Reply::failure("compensated before it executed"));
  } else {
    auto it = handlers_.find(cmd->command);
    if (it == handlers_.end()) {
      reply = Reply::failure("no handler for command \"" + cmd->command + "\"");
    } else {
      if (count_calls_) {
        std::lock_guard lock(mu_);
        ++calls_[cmd->idempotency_key];
      }
      try {
        reply = it->second(*cmd);
      } catch (const std::exception& e) {
        spdlog::error("participant: saga={} step={} key={}: the handler for {} threw, not replying (the orchestrator "
                      "retries after the attempt's timeout): {}",
                      cmd->saga_id, cmd->step, cmd->idempotency_key, cmd->command, e.what());
        return std::nullopt;
      } catch (...) {
        spdlog::error("participant: saga={} step={} key={}: the handler for {} threw something that is not a "
                      "std::exception, not replying (the orchestrator retries after the attempt's timeout)",
                      cmd->saga_id, cmd->step, cmd->idempotency_key, cmd->command);
        return std::nullopt;
      }
    }
  }
  if (reply.success) put(cmd->idempotency_key, reply);
  return wire::reply_message(message, reply.success, reply.body);
}

std::optional<Reply> ParticipantCore::find(const std::string& key) {
  std::lock_guard lock(mu_);
  return dedup_->find(key);
}

void ParticipantCore::put(const std::string& key, const Reply& reply) {
  std::lock_guard lock(mu_);
  dedup_->put(key, reply);
}

InProcessParticipant::InProcessParticipant(boost::asio::io_context& io, wire::Bus& bus, std::vector<std::string> topics,
                                           std::shared_ptr<ParticipantCore> core, std::string group)
    : io_(io), bus_(bus), core_(std::move(core)) {
  consumer_ = bus_.attach(std::move(group), [this] {
    if (posted_) return;
    posted_ = true;
    boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
      if (alive.expired()) return;
      posted_ = false;
      drain();
    });
  });
  bus_.add_topics(consumer_, topics);
}

InProcessParticipant::~InProcessParticipant() {
  alive_.reset();
  bus_.detach(consumer_);
}

void InProcessParticipant::drain() {
  for (;;) {
    auto batch = bus_.poll(consumer_, 256);
    if (batch.empty()) return;
    std::vector<std::uint64_t> tokens;
    for (auto& r : batch) {
      tokens.push_back(r.token);
      auto reply = core_->handle(r.message);
      if (!reply) continue;
      int n = 1;
      if (copies) {
        if (auto cmd = read_command(r.message, nullptr)) n = copies(*cmd);
      }
      for (int i = 0; i < n; ++i) bus_.publish(*reply);
    }
    bus_.commit(consumer_, tokens);
  }
}

}  // namespace participant
