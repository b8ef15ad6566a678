#include "engine/outbox.h"

#include <algorithm>

namespace engine {

std::int64_t Outbox::add(state::Position position, wire::Message message) {
  if (!slots_.empty() && position < slots_.back().position) out_of_order_ = true;
  slots_.push_back({position, std::move(message)});
  ++in_flight_;
  return front_token_ + static_cast<std::int64_t>(slots_.size()) - 1;
}

const wire::Message* Outbox::find(std::int64_t token) const {
  if (token < front_token_ || token - front_token_ >= static_cast<std::int64_t>(slots_.size())) return nullptr;
  const auto& slot = slots_[static_cast<std::size_t>(token - front_token_)];
  return slot.message ? &*slot.message : nullptr;
}

bool Outbox::confirm(std::int64_t token) {
  if (token < front_token_ || token - front_token_ >= static_cast<std::int64_t>(slots_.size())) return false;
  auto& slot = slots_[static_cast<std::size_t>(token - front_token_)];
  if (!slot.message) return false;
  slot.message.reset();
  --in_flight_;
  while (!slots_.empty() && !slots_.front().message) {
    slots_.pop_front();
    ++front_token_;
  }
  return true;
}

void Outbox::committed(state::Position last) { last_ = std::max(last_, last); }

state::Position Outbox::watermark() const {
  if (slots_.empty()) return last_;
  state::Position oldest = slots_.front().position;  // the front is in flight: confirmed ones are popped
  if (out_of_order_) {
    for (const auto& slot : slots_) {
      if (slot.message) oldest = std::min(oldest, slot.position);
    }
  }
  return oldest - 1;
}

}  // namespace engine
