#include "engine/engine.h"

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "engine/engine_impl.h"
#include "sagas/saga_id.h"

namespace engine {

// A UUID v7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Time-ordered ids
// matter for the store: every table is keyed by saga id, so the sagas in flight (all started
// recently) share the right-most pages of each B-tree, and a group commit rewrites a handful
// of pages instead of one random page per row (v4 ids made commits several times larger).
namespace {

// A UUID v7 of `ms` with the random bits taken from r1 and r2.
std::string uuid7(TimeMs ms_since_epoch, std::uint64_t r1, std::uint64_t r2) {
  auto ms = static_cast<std::uint64_t>(ms_since_epoch) & 0xffffffffffffULL;
  std::uint64_t hi = (ms << 16) | 0x7000ULL | (r1 & 0x0fffULL);            // version 7
  std::uint64_t lo = (r2 & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff), static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

// SplitMix64's finalizer: every input bit moves about half the output bits.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string make_saga_id(std::mt19937_64& rng, TimeMs now) {
  std::uint64_t r1 = rng();
  std::uint64_t r2 = rng();
  return uuid7(now, r1, r2);
}

std::string start_id_from(const std::string& topic, std::int32_t partition, const wire::Origin& origin) {
  constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
  constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;
  std::uint64_t h = kFnvOffset;
  for (unsigned char c : topic) h = (h ^ c) * kFnvPrime;
  std::uint64_t r1 = mix(h ^ mix(static_cast<std::uint64_t>(partition)));
  std::uint64_t r2 = mix(r1 ^ mix(static_cast<std::uint64_t>(origin.offset)) ^ static_cast<std::uint64_t>(origin.timestamp_ms));
  return uuid7(std::max<std::int64_t>(origin.timestamp_ms, 0), r1, r2);
}

SagaStatus make_status(const sagas::Definition* def, const Instance& inst) {
  SagaStatus s;
  s.id = SagaId(inst.id);
  s.saga = inst.saga;
  s.version = inst.version;
  s.state = inst.state;
  s.created_at = inst.created_at;
  s.updated_at = inst.updated_at;
  s.error = inst.error;
  s.input = inst.input.value_or_null();
  for (std::size_t i = 0; def != nullptr && i < inst.steps.size() && i < def->steps.size(); ++i) {
    const auto& r = inst.steps[i];
    const auto& st = def->steps[i];
    StepStatus ss;
    ss.name = st.name;
    if (st.group) ss.group = def->group(*st.group).name;
    ss.state = r.state;
    ss.attempts = r.attempts;
    ss.compensation_attempts = r.compensation_attempts;
    ss.started_at = r.started_at;
    ss.finished_at = r.finished_at;
    ss.error = r.error;
    if (r.request) ss.request = *r.request;
    if (r.reply) ss.reply = *r.reply;
    s.steps.push_back(std::move(ss));
  }
  return s;
}


Engine::Engine(boost::asio::io_context& io, state::Store& store, wire::Transport& transport, Clock& clock,
               EngineOptions options)
    : impl_(std::make_unique<Impl>(io, store, transport, clock, std::move(options))) {}

Engine::~Engine() {
  // No flush here: an engine destroyed without close() behaves like a crash (tests rely on
  // it), and the transport must simply stop calling into it.
  impl_->transport.set_handlers({}, {});
  impl_->clock.cancel();
}

dsl::LoadResult Engine::load(const std::vector<std::filesystem::path>& paths) {
  dsl::LoadResult r = dsl::load(paths);
  for (const auto& d : r.definitions) add(d);
  return r;
}

void Engine::add(sagas::DefinitionPtr definition) {
  bool new_topic = true;
  for (const auto& t : impl_->reply_topics()) new_topic = new_topic && t != definition->reply_topic;
  impl_->defs[definition->name][definition->version] = definition;
  if (impl_->opened && new_topic) {
    if (auto err = impl_->transport.subscribe({definition->reply_topic})) {
      spdlog::error("cannot consume reply topic {} of saga {}: {}", definition->reply_topic, definition->name, *err);
    }
  }
}

Status Engine::open() {
  auto recovery = read_recovery(impl_->store);
  if (!recovery) return recovery.error();
  return open(std::move(recovery).value());
}

Status Engine::open(Recovery recovery) { return impl_->open(std::move(recovery)); }

Result<Recovery> Engine::read_recovery(state::Store& store) {
  auto loaded = store.load_active();
  if (!loaded) return from_store(loaded.error());
  auto backlog = store.undelivered();
  if (!backlog) return from_store(backlog.error());
  return Recovery{std::move(loaded).value(), std::move(backlog).value()};
}
void Engine::close() { impl_->close(); }

// The first command, rendered from `input` alone, that would be larger than the transport
// delivers (with room for its headers); nullopt when none is. Payloads that use earlier
// steps' replies are rendered when their step starts: a reply too large to fit there fails
// that step instead (Impl::refused).
std::optional<std::string> Engine::Impl::oversized_command(const sagas::Definition& def, const Json& input) const {
  constexpr std::size_t kHeaderBytes = 1024;  // the protocol's headers, generously
  if (options.max_message_bytes == 0) return std::nullopt;
  sagas::RenderContext ctx;
  ctx.input = &input;
  ctx.saga_name = def.name;
  ctx.saga_version = def.version;
  ctx.step_value = [](sagas::StepIndex, sagas::RefRoot) -> const Json* { return nullptr; };
  for (const auto& step : def.steps) {
    auto payload = step.execute.payload.render(ctx, sagas::Missing::fail);
    if (!payload) continue;  // uses a reply: rendered later
    std::size_t bytes = payload->dump().size() + kHeaderBytes;
    if (bytes > options.max_message_bytes) {
      return "the command of step \"" + step.name + "\" would be " + std::to_string(bytes) +
             " bytes, over the broker's limit of " + std::to_string(options.max_message_bytes) +
             " (message.max.bytes): send a reference to the data (an id, a URL) instead of the data";
    }
  }
  return std::nullopt;
}

namespace {

// A start with an id in use is the same start (idempotent) only when it names the same saga,
// version and input; anything else would silently drop what the caller asked for.
std::optional<std::string> differs_from(const sagas::Instance& existing, const sagas::Definition& def,
                                        const Json& input) {
  const std::string& id = existing.id;
  if (existing.saga != def.name) {
    return "saga id \"" + id + "\" is already used by a " + existing.saga + " saga; choose another id";
  }
  if (existing.version != def.version) {
    return "saga " + id + " exists with a different version (" + std::to_string(existing.version) +
           ", now " + std::to_string(def.version) + "); a repeated start must be the same start: choose another id";
  }
  if (!(existing.input == input)) {
    return "saga " + id + " exists with a different input; a repeated start must carry the same input: "
           "choose another id, or read the existing saga with GET /v1/sagas/" + id;
  }
  return std::nullopt;
}

}  // namespace

Result<StartResult> Engine::Impl::start(const std::string& saga, Json input, StartOptions start_options,
                                  std::function<void(const Status&)> on_committed) {
  auto& d = *this;
  if (d.closed || !d.opened) return Status{Errc::closed, "the engine is not open: call open() first"};
  auto it = d.defs.find(saga);
  if (it == d.defs.end()) {
    return Status{Errc::unknown_saga, "no saga named \"" + saga + "\" is loaded (loaded: " + d.loaded_names() + ")"};
  }
  if (std::string problem = d.store_problem(); !problem.empty()) {
    // Refused at once, not queued behind a commit that cannot be made.
    return Status{Errc::store, "no saga is started while the state store cannot commit (" + problem +
                                   "); retry once /readyz answers 200"};
  }
  DefinitionPtr def = it->second.rbegin()->second;
  if (def->input) {
    auto violations = sagas::validate(*def->input, input);
    if (!violations.empty()) {
      std::string msg = "the input does not match the schema of " + saga + ":";
      for (const auto& v : violations) msg += "\n  " + v.path + ": " + v.message;
      return Status{Errc::invalid_input, msg};
    }
  }
  if (auto big = oversized_command(*def, input)) return Status{Errc::too_large, *big};
  std::string id;
  if (start_options.id) {
    id = *start_options.id;
    if (auto bad = sagas::check_saga_id(id)) return Status{Errc::invalid_input, *bad};
    std::optional<sagas::Instance> stored;
    const sagas::Instance* existing = nullptr;
    if (auto a = d.active.find(id); a != d.active.end()) {
      existing = &a->second.inst;
    } else {
      auto loaded = d.store.load(id);
      if (!loaded) return from_store(loaded.error());
      stored = std::move(*loaded);
      if (stored) existing = &*stored;
    }
    if (existing) {
      if (auto differs = differs_from(*existing, *def, input)) return Status{Errc::conflict, *differs};
      if (on_committed) on_committed(Status{});
      return StartResult{SagaId(id), true};
    }
  } else {
    do {
      id = d.options.new_id ? d.options.new_id() : make_saga_id(d.rng, d.clock.now());
    } while (d.options.accept_id && !d.options.accept_id(id));
  }
  Active& a =
      d.active.emplace(id, Active{def, sagas::new_instance(*def, id, std::move(input), d.clock.now())})
          .first->second;
  if (auto applied = d.apply(a, sagas::Started{}, Extra{true, std::move(on_committed)}); !applied) {
    d.active.erase(id);
    return Status{Errc::conflict, applied.error()};
  }
  return StartResult{SagaId(id), false};
}

Result<StartResult> Engine::start(const std::string& saga, Json input, StartOptions options,
                                  std::function<void(const Status&)> on_committed) {
  return impl_->start(saga, std::move(input), std::move(options), std::move(on_committed));
}

Status Engine::compensate(const SagaId& id, std::string reason, std::function<void(const Status&)> on_committed) {
  auto& d = *impl_;
  if (d.closed || !d.opened) return {Errc::closed, "the engine is not open: call open() first"};
  auto it = d.active.find(id.value());
  if (it == d.active.end()) {
    auto loaded = d.store.load(id.value());
    if (!loaded) return from_store(loaded.error());
    auto& stored = *loaded;
    if (!stored) return {Errc::not_found, "no saga with id \"" + id.value() + "\""};
    DefinitionPtr def = d.find_def(stored->saga, stored->version);
    if (!def) {
      return {Errc::unknown_saga, "saga " + id.value() + " is " + stored->saga + " v" +
                                      std::to_string(stored->version) + ", which is not loaded: load its file"};
    }
    if (stored->state != SagaState::failed) {
      return {Errc::conflict,
              "saga " + id.value() + " has already finished (" + std::string(sagas::to_string(stored->state)) + ")"};
    }
    it = d.active.emplace(id.value(), Impl::Active{def, std::move(*stored)}).first;
  }
  auto applied = d.apply(it->second, sagas::CompensateRequested{std::move(reason)}, Extra{false, std::move(on_committed)});
  if (!applied) {
    if (sagas::is_terminal(it->second.inst.state)) d.active.erase(it);
    return {Errc::conflict, applied.error()};
  }
  return {};
}

Result<SagaStatus> Engine::status(const SagaId& id) {
  auto& d = *impl_;
  if (auto it = d.active.find(id.value()); it != d.active.end()) {
    return make_status(it->second.def.get(), it->second.inst);
  }
  return d.reads.status(id);
}

// The others commit first, so they show what the store holds and newest-first is exact.
Result<SagaList> Engine::list(const state::ListFilter& filter) {
  impl_->flush_and_wait();
  return impl_->reads.list(filter);
}

Result<std::vector<state::StateCount>> Engine::count(const state::ListFilter& filter) {
  impl_->flush_and_wait();
  return impl_->reads.count(filter);
}

Result<std::vector<state::HistoryRow>> Engine::history(const SagaId& id) {
  impl_->flush_and_wait();
  return impl_->reads.history(id);
}

void Engine::after_commits(std::function<void()> then) {
  auto& d = *impl_;
  // The last transition waiting (or in flight) is committed after every one before it: its
  // followup carries `then` too.
  Impl::Followup* last = nullptr;
  if (!d.pending.followups.empty()) {
    last = &d.pending.followups.back();
  } else if (d.in_flight && !d.in_flight->followups.empty()) {
    last = &d.in_flight->followups.back();
  }
  if (last == nullptr) {
    boost::asio::post(d.io, std::move(then));
    return;
  }
  // Posted, not called: the followup runs inside the engine's commit handler, and `then` may
  // read the engine.
  last->on_committed = [before = std::move(last->on_committed), then = std::move(then), io = &d.io](const Status& st) {
    if (before) before(st);
    boost::asio::post(*io, then);
  };
}

void Engine::read_committed(ReadWork work) {
  after_commits([this, life = std::weak_ptr<int>(impl_->life), work = std::move(work)]() mutable {
    if (!life.expired()) impl_->reader.read(definitions(), std::move(work));
  });
}

void Engine::on_event(std::function<void(const Event&)> subscriber) {
  impl_->subscribers.push_back(std::move(subscriber));
}

std::vector<sagas::DefinitionPtr> Engine::definitions() const {
  std::vector<sagas::DefinitionPtr> out;
  for (const auto& [name, versions] : impl_->defs) {
    for (const auto& [v, def] : versions) out.push_back(def);
  }
  return out;
}

const EngineStats& Engine::stats() const { return impl_->stats; }
std::size_t Engine::active_sagas() const { return impl_->active.size(); }
std::size_t Engine::unconfirmed_sends() const { return impl_->outbox.in_flight(); }
bool Engine::store_healthy() const { return impl_->store_problem().empty(); }
std::string Engine::store_problem() const { return impl_->store_problem(); }

Status Engine::check_store() {
  auto& d = *impl_;
  if (d.closed || !d.opened) return Status{};
  state::Status st = d.store.check();
  if (!st.ok() && d.file_problem.empty()) spdlog::error("the state store cannot take commits: {}", st.message);
  if (st.ok() && !d.file_problem.empty()) spdlog::info("the state store takes commits again");
  d.file_problem = st.ok() ? std::string() : st.message;
  return st.ok() ? Status{} : from_store(st);
}
bool Engine::committing() const { return impl_->writer->busy(); }
bool Engine::ready() const { return impl_->caught_up_once && impl_->transport.ready(); }

}  // namespace engine
