// The saga state machine: transition(definition, instance, event) -> (instance', outputs).
//
// Pure: no I/O, no clock (events carry `now`), no threads, randomness injected (jitter).
// The engine commits the new instance, its history records and the commands it sends in
// one transaction *before* acting on any output (transactional outbox), so a crash at any
// point replays from the last commit.
//
// The machine at a glance (state + event [guard] / outputs -> next state):
//
//   running      + started                 / send stage 0                    -> running
//   running      + success reply           / record; next stage when done    -> running | completed
//   running      + failure reply [pre-pivot] / step failed                  -> compensating
//   running      + failure|timeout [retriable, attempts left] / backoff, resend -> running
//   running      + timeout [attempts left] / backoff then resend             -> running
//   running      + timeout [no attempts]   / step failed, outcome unknown    -> compensating
//   running      + deadline | compensate [pre-pivot] / await in-flight steps -> compensating
//   compensating + replies/timeouts of in-flight steps / record, no retries  -> compensating
//   compensating + nothing in flight       / send compensations (strategy)  -> compensating
//   compensating + compensation success    / next compensations              -> compensating | compensated
//   compensating + compensation fails, retries left / backoff, resend        -> compensating
//   compensating + compensation out of retries       / step compensation_failed -> failed
//   failed       + compensate              / retry the remaining compensations -> compensating
//
// Steps after the pivot ("retriable") retry on failure and timeout alike and never
// compensate; when their attempts run out the saga is `failed` for an operator.
#pragma once

#include <boost/container/small_vector.hpp>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sagas/definition.h"
#include "sagas/event_type.h"
#include "sagas/instance.h"
#include "sagas/named_type.h"

namespace sagas {

// --- events ---
struct Started {};
struct ReplyReceived {
  StepIndex step;
  CommandKind kind = CommandKind::execute;
  std::string in_reply_to;  // the command's message-id
  bool success = true;
  Json body;
};
struct TimerFired {
  StepIndex step;
  CommandKind kind = CommandKind::execute;
  TimerKind timer = TimerKind::attempt_timeout;
  Attempt attempt;  // the attempt the timer was armed for; stale timers are ignored
};
struct DeadlineReached {};
struct CompensateRequested {
  std::string reason;
};
using Event = std::variant<Started, ReplyReceived, TimerFired, DeadlineReached, CompensateRequested>;

// --- outputs ---
struct SendCommand {
  StepIndex step;
  CommandKind kind = CommandKind::execute;
  Attempt attempt;
  std::string message_id;       // unique per command sent
  std::string idempotency_key;  // <saga-id>/<step>/<action>: the same on every retry
  std::string topic;
  std::string command;
  SharedJson payload;  // an execute command's is its step's request, shared
  // When the orchestrator gives this attempt up (its timeout); 0 when unknown. Participants
  // skip a command received after it (docs/protocol.md, `expires-at`).
  TimeMs expires_at = 0;
};
// One history row and lifecycle event.
struct Record {
  EventType event = EventType::saga_started;
  std::optional<StepIndex> step;
  std::string detail;
};

// A transition's outputs are few (a step's command, a record or two): held inline, so a
// transition allocates nothing for them. Sizes cover a stage of two parallel steps.
using Records = boost::container::small_vector<Record, 2>;
using Sends = boost::container::small_vector<SendCommand, 2>;

// Timers are state, not outputs: each step's one timer is StepRecord::timer_at (with what it
// waits for), the saga's deadline Instance::deadline_at. Whoever runs the machine arms what
// the new instance holds, after a transition and after a restart alike.
struct Transition {
  Instance instance;
  Records records;
  Sends sends;
  // The event was already accounted for (a duplicate reply, a timer replaced or cancelled
  // since it was armed): the instance is unchanged and there are no outputs.
  bool unchanged = false;
  // Set when the event was not applied: an unmatched reply (dead-letter it) or a request
  // that does not fit the saga's state. The instance is then unchanged.
  std::optional<std::string> rejected;
};

// What the machine may not know by itself.
struct Environment {
  std::function<double()> random = [] { return 0.5; };  // uniform in [0, 1), for jitter
};

// Creates the instance of a saga about to start (state running, nothing sent yet); feed it
// Started to send the first stage.
Instance new_instance(const Definition& def, std::string id, Json input, TimeMs now);

Transition transition(const Definition& def, const Instance& instance, const Event& event, TimeMs now,
                      const Environment& env = {});

// <saga-id>/<step>/<execute|compensate>/<attempt>
std::string message_id(const Instance& inst, const Definition& def, StepIndex step, CommandKind kind,
                       Attempt attempt);

// The command the machine sends for this attempt of a step (what Transition::sends holds):
// ids, topic and command follow from the definition. Recovery rebuilds commands with it from
// what the journal keeps of them.
SendCommand make_command(const Definition& def, const std::string& saga_id, StepIndex step, CommandKind kind,
                         Attempt attempt, SharedJson payload);

// The delay before retry number `attempt` + 1, after `attempt` attempts failed.
Millis backoff_delay(const RetryPolicy& policy, std::uint32_t attempt, double random01);

}  // namespace sagas
