// What the transport brings: replies, start requests, delivery reports (engine_impl.h).
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"

namespace engine {

Engine::Impl::Handled Engine::Impl::receive_start(const wire::Received& r) {
  // A start handed on by a cluster node arrives on its shard's topic: its dead letter still
  // goes where the start topic's do.
  const std::string& topic = options.start_topic.empty() ? r.message.topic : options.start_topic;
  auto request = wire::parse_start(r.message);
  if (!request) {
    dead_letter(r, request.error().message, topic);
    return Handled::done;
  }
  // Without an id of its own, the request's place in its log names it: read again, it is
  // the same saga (a transport that keeps no log gives no origin, and a fresh id is made).
  if (!request->id && r.origin) request->id = start_id_from(r.message.topic, r.message.partition, *r.origin);
  auto started = start(request->saga, std::move(request->input), StartOptions{request->id}, {});
  if (!started && started.error().code == Errc::store) return store_failed(r, started.error().message);
  if (!started) {
    dead_letter(r, started.error().message, topic);
    return Handled::done;
  }
  spdlog::info("saga={} name={} {} from {}", started->id.value(), request->saga,
               started->existed ? "already exists: start request ignored" : "start requested", r.message.topic);
  return Handled::done;
}

void Engine::Impl::dead_letter(const wire::Received& r, const std::string& error) {
  dead_letter(r, error, r.message.topic);
}

void Engine::Impl::dead_letter(const wire::Received& r, const std::string& error, const std::string& topic) {
  ++stats.dead_letters;
  const std::string* sid = r.message.header(wire::header::kSagaId);
  spdlog::warn("saga={} message on {} dead-lettered to {}.dlq: {}", sid ? *sid : "-", r.message.topic, topic, error);
  // Written to the outbox before the reply is acknowledged: a crash cannot lose it.
  state::Commit c;
  c.messages_only = true;
  c.instance.updated_at = clock.now();
  c.messages.push_back(stored(wire::dead_letter(r.message, topic + ".dlq", error, options.max_message_bytes)));
  pending.commits.push_back(std::move(c));
  pending.followups.emplace_back();
  schedule_flush();
}

void Engine::Impl::on_receive(std::vector<wire::Received> batch) {
  if (closed) return;
  for (auto& r : batch) {
    Handled h = Handled::done;
    bool from_start_topic = !options.start_topic.empty() && r.message.topic == options.start_topic;
    if (r.kind == wire::MessageKind::start || from_start_topic) {
      h = receive_start(r);
    } else {
      ++stats.replies;
      h = receive(r);
    }
    if (h == Handled::deferred) {
      defer(std::move(r));
      continue;
    }
    pending.acks.push_back(r.token);  // acknowledged after the commit of everything before it
  }
  schedule_flush();
}

void Engine::Impl::defer(wire::Received r) {
  if (deferred.empty()) {
    arm({clock.now() + options.commit_retry_delay, TimerRef{TimerRef::Kind::retry_replies, {}, 0, 0}});
    rearm_clock();
  }
  deferred.push_back(std::move(r));
}

Engine::Impl::Handled Engine::Impl::store_failed(const wire::Received& r, const std::string& why) {
  ++stats.read_failures;
  const std::string* sid = r.message.header(wire::header::kSagaId);
  spdlog::error("saga={} reading the state file failed; the message on {} is applied after a retry in {} ms: {}",
                sid ? *sid : "-", r.message.topic, options.commit_retry_delay, why);
  return Handled::deferred;
}

Engine::Impl::Handled Engine::Impl::receive_for_stored(const wire::Received& r, const wire::Reply& reply) {
  auto stored = store.load(reply.saga_id);
  if (!stored) return store_failed(r, stored.error().message);
  if (*stored && sagas::is_terminal((*stored)->state)) {
    ++stats.duplicates;
    spdlog::debug("saga={} step={} late reply ignored: the saga is {}", reply.saga_id, reply.step,
                  sagas::to_string((*stored)->state));
    return Handled::done;
  }
  if (!*stored) {
    auto pruned = store.was_pruned(reply.saga_id);
    if (!pruned) return store_failed(r, pruned.error().message);
    if (*pruned) {
      ++stats.duplicates;
      spdlog::debug("saga={} step={} late reply ignored: the saga finished and was pruned", reply.saga_id, reply.step);
      return Handled::done;
    }
  }
  dead_letter(r, "unknown saga id \"" + reply.saga_id + "\"");
  return Handled::done;
}

Engine::Impl::Handled Engine::Impl::receive(const wire::Received& r) {
  auto parsed = wire::parse_reply(r.message);
  if (!parsed) {
    dead_letter(r, parsed.error().message);
    return Handled::done;
  }
  wire::Reply& reply = *parsed;
  auto it = active.find(reply.saga_id);
  if (it == active.end()) return receive_for_stored(r, reply);
  Active& a = it->second;
  auto step = a.def->find_step(reply.step);
  if (!step) {
    dead_letter(r, "saga " + a.def->name + " has no step \"" + reply.step + "\"");
    return Handled::done;
  }
  // Duplicates are recognised by the machine from the saga's own state (a second reply to
  // one command changes nothing), before a restart and after it alike.
  auto applied = apply(a, sagas::ReplyReceived{*step, reply.kind, reply.in_reply_to, reply.success,
                                               std::move(reply.body)});
  if (!applied) {
    dead_letter(r, applied.error());
  } else if (*applied == Applied::unchanged) {
    ++stats.duplicates;
    spdlog::debug("saga={} step={} duplicate reply to {} ignored", reply.saga_id, reply.step, reply.in_reply_to);
  }
  return Handled::done;
}

// A message the transport can never deliver (too large): not sent again. A command's step
// fails as if its participant had answered `failure` with the transport's error (compensation
// follows, as for any failure); the failure and the message's end commit together.
void Engine::Impl::refused(std::int64_t outbox_id, const std::string& error) {
  wire::Message m = *outbox.find(outbox_id);
  outbox.confirm(outbox_id);
  auto header = [&](std::string_view name) {
    const std::string* v = m.header(name);
    return v != nullptr ? *v : std::string();
  };
  std::string why = "the message to " + m.topic + " (" + std::to_string(m.value.size()) +
                    " bytes) cannot be sent: " + error;
  auto it = active.find(header(wire::header::kSagaId));
  auto kind = sagas::command_kind_from(header(wire::header::kAction));
  const std::string message_id = header(wire::header::kMessageId);
  auto step = it == active.end() ? std::nullopt : it->second.def->find_step(header(wire::header::kStep));
  if (!step || !kind || message_id.empty()) {  // not a command of a running saga: an event, a dead letter
    spdlog::error("saga={} {}; dropped", m.key, why);
    flush();
    return;
  }
  spdlog::error("saga={} step={} {}: the step fails", m.key, header(wire::header::kStep), why);
  Json body = Json::object();
  body.set("error", Json(why));
  if (auto applied = apply(it->second, sagas::ReplyReceived{*step, *kind, message_id, false, std::move(body)});
      !applied) {
    spdlog::error("saga={} {}; dropped ({})", m.key, why, applied.error());
  }
  flush();
}

void Engine::Impl::on_delivery(std::vector<wire::Delivery> deliveries) {
  if (closed) return;
  for (const auto& d : deliveries) {
    const wire::Message* m = outbox.find(d.outbox_id);
    if (m == nullptr) continue;
    if (d.error.empty()) {
      outbox.confirm(d.outbox_id);
      continue;
    }
    ++stats.send_failures;
    if (d.refused) {
      refused(d.outbox_id, d.error);
      continue;
    }
    spdlog::warn("saga={} send to {} failed, retrying in {} ms: {}", m->key, m->topic, options.resend_delay, d.error);
    arm({clock.now() + options.resend_delay, TimerRef{TimerRef::Kind::resend, {}, 0, d.outbox_id}});
  }
  // The new watermark rides on the next commit, or on one made after outbox_clear_delay.
  if (watermark_behind() && !clear_outbox_armed) {
    clear_outbox_armed = true;
    arm({clock.now() + options.outbox_clear_delay, TimerRef{TimerRef::Kind::clear_outbox, {}, 0, 0}});
  }
  rearm_clock();
}

}  // namespace engine
