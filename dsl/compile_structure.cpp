// The saga's structure: top-level keys, steps, parallel groups, the pivot, retry policies
// (compiler_impl.h).
#include "dsl/compiler_impl.h"

namespace dsl::detail {

std::optional<RetryPolicy> Compiler::retry_of(const Entry& e, const std::string& owner,
                                              RetryPolicy base, bool* forever_explicit) {
  const std::string what = "the retry policy of " + owner;
  auto entries = fields(e.value, what, kRetryKeys);
  if (!entries) return std::nullopt;
  RetryPolicy p = base;
  bool ok = true;
  if (const Entry* m = get(*entries, "max_attempts")) {
    if (m->value.IsScalar() && m->value.Scalar() == "forever") {
      p.max_attempts.reset();
      if (forever_explicit != nullptr) *forever_explicit = true;
    } else if (auto n = int_of(*m, what + " (or \"forever\")", 1, 1'000'000)) {
      p.max_attempts = static_cast<std::uint32_t>(*n);
    } else {
      ok = false;
    }
  }
  if (const Entry* b = get(*entries, "backoff")) {
    // Order matches sagas::Backoff.
    if (auto i = choice_of(*b, std::array<std::string_view, 2>{"fixed", "exponential"})) {
      p.backoff = static_cast<sagas::Backoff>(*i);
    } else {
      ok = false;
    }
  }
  if (const Entry* i = get(*entries, "initial")) {
    if (auto d = duration_of(*i, what)) p.initial = *d; else ok = false;
  }
  if (const Entry* m = get(*entries, "max")) {
    if (auto d = duration_of(*m, what)) p.max = *d; else ok = false;
  }
  if (const Entry* j = get(*entries, "jitter")) {
    if (auto b = bool_of(*j, what)) p.jitter = *b; else ok = false;
  }
  if (ok && p.initial > p.max) {
    error(e.value, "in " + what + ", initial delay " + format_duration(p.initial) +
                       " is longer than max " + format_duration(p.max) + "; raise max or lower initial");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return p;
}

// The step's name: valid, and unique among the saga's steps and groups.
bool Compiler::step_name(const Entry& e, const std::string& what, StepDraft& d) {
  auto name = string_of(e, what);
  if (!name) return false;
  d.name_pos = pos_of(e.value);
  d.step.name = *name;
  if (!is_step_name(*name)) {
    error(e.value, "step name " + quote(*name) + " may only use letters, digits, '-' and '_' (at most 128)");
    return false;
  }
  if (auto prev = names_.find(*name); prev != names_.end()) {
    error(e.value, "duplicate step name " + quote(*name) + " (first defined at " + at(prev->second) + ")");
    return false;
  }
  names_.emplace(*name, d.name_pos);
  return true;
}

// A step's `compensation`: its command, and topic, timeout and retry where they differ from
// the step's (the step's topic and timeout, the saga's compensation retry, by default).
bool Compiler::compensation_of(const Entry& e, const std::string& what, StepDraft& d) {
  d.compensation_key_pos = pos_of(e.key_node);
  const std::string cwhat = "the compensation of " + what;
  auto centries = fields(e.value, cwhat, kCompensationKeys);
  if (!centries) return false;
  bool ok = true;
  sagas::CommandSpec c;
  c.topic = d.step.execute.topic;
  c.timeout = d.step.execute.timeout;
  c.retry = compensation_retry_;
  if (const Entry* ce = require(*centries, e.value, "command", cwhat)) {
    if (auto cmd = string_of(*ce, cwhat)) c.command = *cmd; else ok = false;
  } else {
    ok = false;
  }
  if (const Entry* ce = get(*centries, "topic")) {
    if (auto topic = topic_of(*ce, cwhat)) c.topic = *topic; else ok = false;
  }
  if (const Entry* ce = get(*centries, "timeout")) {
    if (auto t = duration_of(*ce, cwhat)) c.timeout = *t; else ok = false;
  }
  if (const Entry* ce = get(*centries, "retry")) {
    if (auto r = retry_of(*ce, cwhat, compensation_retry_)) c.retry = *r; else ok = false;
  }
  if (const Entry* ce = get(*centries, "payload")) d.compensation_payload = ce->value;
  d.step.compensation = std::move(c);
  return ok;
}

std::optional<StepDraft> Compiler::step_of(const YAML::Node& n, std::size_t stage,
                                           std::optional<sagas::GroupIndex> group) {
  std::string what = "step #" + std::to_string(drafts_.size() + 1);
  // Read the name first so the remaining messages can say which step they are about.
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar()) {
        what = "step " + quote(it->second.Scalar());
      }
    }
  }
  auto entries = fields(n, what, kStepKeys);
  if (!entries) return std::nullopt;
  StepDraft d;
  d.node = n;
  d.step.index = StepIndex(drafts_.size());
  d.step.group = group;
  d.step.stage = stage;
  bool ok = true;

  if (const Entry* e = require(*entries, n, "name", what)) {
    ok = step_name(*e, what, d) && ok;
  } else {
    ok = false;
  }
  if (const Entry* e = require(*entries, n, "topic", what)) {
    if (auto topic = topic_of(*e, what)) d.step.execute.topic = *topic; else ok = false;
  } else {
    ok = false;
  }
  if (const Entry* e = require(*entries, n, "command", what)) {
    if (auto cmd = string_of(*e, what)) d.step.execute.command = *cmd; else ok = false;
  } else {
    ok = false;
  }
  if (const Entry* e = get(*entries, "payload")) d.payload = e->value;
  d.step.execute.timeout = default_timeout_;
  if (const Entry* e = get(*entries, "timeout")) {
    if (auto t = duration_of(*e, what)) d.step.execute.timeout = *t; else ok = false;
  }
  d.step.execute.retry = default_retry_;
  if (const Entry* e = get(*entries, "retry")) {
    if (auto r = retry_of(*e, what, default_retry_, &d.retry_forever_explicit)) {
      d.step.execute.retry = *r;
    } else {
      ok = false;
    }
  }
  if (const Entry* e = get(*entries, "pivot")) {
    if (auto b = bool_of(*e, what)) {
      d.step.pivot = *b;
      if (*b) d.pivot_pos = pos_of(e->key_node);
    } else {
      ok = false;
    }
  }
  if (const Entry* e = get(*entries, "when")) d.when = e->value;
  if (const Entry* e = get(*entries, "compensation")) ok = compensation_of(*e, what, d) && ok;
  (void)ok;  // a step with errors is still recorded, so later references to it resolve
  return d;
}

void Compiler::compile_group(const YAML::Node& item, std::size_t stage) {
  // A group item is `- parallel: {name, steps}` and nothing else.
  YAML::Node body;
  for (auto it = item.begin(); it != item.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
    if (key == "parallel") {
      body = it->second;
    } else {
      error(it->first, "unexpected key " + quote(key) +
                           " beside \"parallel\"; put the group's name and steps under parallel:");
    }
  }
  const std::string what = "parallel group #" + std::to_string(def_.groups.size() + 1);
  auto entries = fields(body, what, kGroupKeys);
  if (!entries) return;
  sagas::GroupIndex gi(def_.groups.size());
  def_.groups.push_back({});
  std::string gwhat = what;
  if (const Entry* e = require(*entries, body, "name", what)) {
    if (auto name = string_of(*e, what)) {
      gwhat = "parallel group " + quote(*name);
      if (!is_step_name(*name)) {
        error(e->value, "group name " + quote(*name) +
                            " may only use letters, digits, '-' and '_' (at most 128)");
      } else if (auto prev = names_.find(*name); prev != names_.end()) {
        error(e->value, "duplicate name " + quote(*name) + " (first defined at " + at(prev->second) +
                            "); steps and groups share one namespace");
      } else {
        names_.emplace(*name, pos_of(e->value));
      }
      def_.groups[gi.value()].name = *name;
    }
  }
  const Entry* steps = require(*entries, body, "steps", what);
  if (steps == nullptr) return;
  if (!steps->value.IsSequence() || steps->value.size() == 0) {
    error(steps->value, "\"steps\" of " + gwhat + " must list at least one step");
    return;
  }
  sagas::Stage st;
  st.group = gi;
  for (const auto& member : steps->value) {
    if (member.IsMap() && std::any_of(member.begin(), member.end(), [](const auto& kv) {
          return kv.first.IsScalar() && kv.first.Scalar() == "parallel";
        })) {
      error(member, "parallel groups cannot be nested; list the steps of " + gwhat + " directly");
      continue;
    }
    if (auto d = step_of(member, stage, gi)) {
      if (d->pivot_pos) {
        error(*d->pivot_pos, "the pivot cannot be inside a parallel group (" + gwhat +
                                 "); make it a step of its own");
      }
      st.steps.push_back(d->step.index);
      def_.groups[gi.value()].members.push_back(d->step.index);
      drafts_.push_back(std::move(*d));
    }
  }
  def_.stages.push_back(std::move(st));
}

bool Compiler::misspelt_group(const YAML::Node& item) {
  // `- parralel: {...}`: one key near "parallel" holding a mapping is a group, misspelt; saying
  // so beats four errors about a step missing its name, topic and command.
  if (!item.IsMap() || item.size() != 1) return false;
  auto only = item.begin();
  const YAML::Node key = only->first;
  if (!key.IsScalar() || !only->second.IsMap()) return false;
  static constexpr std::array<std::string_view, 1> kGroup{"parallel"};
  if (closest(key.Scalar(), std::span<const std::string_view>(kGroup)).empty()) return false;
  error(key, "unknown key " + quote(key.Scalar()) + " (did you mean \"parallel\"?)");
  return true;
}

void Compiler::compile_steps(const Entry& steps_entry) {
  if (!steps_entry.value.IsSequence() || steps_entry.value.size() == 0) {
    error(steps_entry.value, "\"steps\" must list at least one step");
    return;
  }
  for (const auto& item : steps_entry.value) {
    if (!spend_node(item)) return;
    std::size_t stage = def_.stages.size();
    bool is_group = item.IsMap() && std::any_of(item.begin(), item.end(), [](const auto& kv) {
                      return kv.first.IsScalar() && kv.first.Scalar() == "parallel";
                    });
    if (is_group) {
      compile_group(item, stage);
      continue;
    }
    if (misspelt_group(item)) continue;
    if (auto d = step_of(item, stage, std::nullopt)) {
      def_.stages.push_back({{d->step.index}, std::nullopt});
      drafts_.push_back(std::move(*d));
    }
  }
}

void Compiler::apply_pivot() {
  const StepDraft* pivot = nullptr;
  for (const auto& d : drafts_) {
    if (!d.step.pivot) continue;
    if (pivot != nullptr) {
      error(*d.pivot_pos, "only one step may be the pivot; " + quote(pivot->step.name) +
                              " already is (at " + at(*pivot->pivot_pos) + ")");
      continue;
    }
    pivot = &d;
    if (d.compensation_key_pos) {
      error(*d.compensation_key_pos,
            "the pivot step " + quote(d.step.name) +
                " cannot have a compensation: once it succeeds there is no going back");
    }
  }
  if (pivot == nullptr) return;
  def_.pivot = pivot->step.index;
  const std::size_t pivot_stage = pivot->step.stage;
  const std::string pivot_name = pivot->step.name;
  for (auto& d : drafts_) {
    if (d.step.stage <= pivot_stage) continue;
    d.step.retriable = true;
    if (d.compensation_key_pos) {
      error(*d.compensation_key_pos,
            "step " + quote(d.step.name) + " comes after the pivot " + quote(pivot_name) +
                " and cannot have a compensation: steps after the pivot are retried until they "
                "succeed");
    }
  }
}

void Compiler::add_warnings() {
  for (const auto& d : drafts_) {
    if (d.step.retriable || d.step.pivot) continue;
    if (!d.step.compensation) {
      warning(d.name_pos, "step " + quote(d.step.name) +
                              " has no compensation: if a later step fails, nothing undoes it "
                              "(fine if it changes nothing)");
    }
    if (d.retry_forever_explicit && !def_.deadline) {
      warning(d.name_pos, "step " + quote(d.step.name) +
                              " retries forever before the pivot and the saga has no deadline: "
                              "it can only fail through `sagactl compensate`");
    }
  }
}

void Compiler::compile_defaults(const Entry& e) {
  const std::string what = "defaults";
  auto d = fields(e.value, what, kDefaultsKeys);
  if (!d) return;
  if (const Entry* t = get(*d, "timeout")) {
    if (auto v = duration_of(*t, what)) default_timeout_ = *v;
  }
  if (const Entry* r = get(*d, "retry")) {
    if (auto v = retry_of(*r, what, default_retry_)) default_retry_ = *v;
  }
  if (const Entry* t = get(*d, "reply_topic")) {
    if (auto v = topic_of(*t, what)) default_reply_topic_ = *v;
  }
}

void Compiler::compile_saga_compensation(const Entry& e) {
  const std::string what = "the saga's compensation settings";
  auto c = fields(e.value, what, kSagaCompensationKeys);
  if (!c) return;
  if (const Entry* s = get(*c, "strategy")) {
    // Order matches sagas::CompensationStrategy.
    if (auto i = choice_of(*s, std::array<std::string_view, 2>{"sequential", "parallel"})) {
      def_.compensation_strategy = static_cast<sagas::CompensationStrategy>(*i);
    }
  }
  if (const Entry* r = get(*c, "retry")) {
    if (auto v = retry_of(*r, what, compensation_retry_)) compensation_retry_ = *v;
  }
}

void Compiler::compile_top(const YAML::Node& root) {
  auto entries = fields(root, "the saga file", kTopKeys);
  if (!entries) return;
  const std::string what = "the saga";
  if (const Entry* e = require(*entries, root, "apiVersion", what)) {
    auto v = string_of(*e, what);
    if (v && *v != "saga/v1") {
      error(e->value, "unsupported apiVersion " + quote(*v) + ": this sagactl understands saga/v1");
    }
  }
  if (const Entry* e = require(*entries, root, "saga", what)) {
    if (auto name = string_of(*e, what)) {
      name_pos_ = pos_of(e->value);
      if (!is_saga_name(*name)) {
        error(e->value, "saga name " + quote(*name) +
                            " must match [a-z0-9][a-z0-9._-]{0,127}: lower-case letters, digits, "
                            "'.', '_' and '-'");
      }
      def_.name = *name;
    }
  }
  if (const Entry* e = get(*entries, "version")) {
    if (auto v = int_of(*e, what, 1, 1'000'000'000)) def_.version = static_cast<int>(*v);
  }
  if (const Entry* e = get(*entries, "description")) {
    if (auto v = string_of(*e, what)) def_.description = *v;
  }
  if (const Entry* e = get(*entries, "input")) {
    def_.input = schema_of(e->value, "", 0);
  }
  if (const Entry* e = get(*entries, "deadline")) {
    def_.deadline = duration_of(*e, what);
  }
  if (const Entry* e = get(*entries, "defaults")) compile_defaults(*e);
  if (const Entry* e = get(*entries, "compensation")) compile_saga_compensation(*e);
  def_.reply_topic = default_reply_topic_.value_or(def_.name + ".replies");
  if (const Entry* e = require(*entries, root, "steps", what)) {
    compile_steps(*e);
  }
  apply_pivot();
  compile_templates();
  add_warnings();
}

}  // namespace dsl::detail
