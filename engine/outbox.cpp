#include "engine/outbox.h"

namespace saga {

std::int64_t Outbox::add(state::Position position, Message message) {
  std::int64_t token = next_token_++;
  inflight_.emplace(token, InFlight{position, std::move(message)});
  ++per_entry_[position];
  return token;
}

const Message* Outbox::find(std::int64_t token) const {
  auto it = inflight_.find(token);
  return it == inflight_.end() ? nullptr : &it->second.message;
}

bool Outbox::confirm(std::int64_t token) {
  auto it = inflight_.find(token);
  if (it == inflight_.end()) return false;
  auto entry = per_entry_.find(it->second.position);
  if (--entry->second == 0) per_entry_.erase(entry);
  inflight_.erase(it);
  return true;
}

void Outbox::committed(state::Position last) { last_ = std::max(last_, last); }

state::Position Outbox::watermark() const { return per_entry_.empty() ? last_ : per_entry_.begin()->first - 1; }

}  // namespace saga
