// Outbox: the messages handed to the transport and not yet confirmed by the broker, and the
// delivered watermark they imply (state/store.h): every journal entry at or before it has had
// all its messages confirmed, so recovery need not send them again. Pure bookkeeping, owned
// by the engine's executor.
//
// Messages are added in the order of their entries' positions (after each commit, and by
// recovery in journal order) and mostly confirmed in that order: they are kept in a queue
// by token, the oldest in flight at its front, whose position bounds the watermark. One
// added out of order (never, today) is still counted right, by a scan.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "wire/transport.h"
#include "state/store.h"

namespace engine {

class Outbox {
 public:
  // Records a message of the entry at `position`, about to be sent; returns its token (the
  // transport's outbox id).
  std::int64_t add(state::Position position, wire::Message message);
  // The message in flight with this token, or nullptr (confirmed, or never added).
  const wire::Message* find(std::int64_t token) const;
  // The broker has it: forgets it. False for a token not in flight.
  bool confirm(std::int64_t token);

  // The newest position committed: entries up to it with nothing in flight count as delivered.
  void committed(state::Position last);
  state::Position watermark() const;
  std::size_t in_flight() const { return in_flight_; }

 private:
  struct Slot {
    state::Position position = 0;
    std::optional<wire::Message> message;  // empty once confirmed
  };
  std::deque<Slot> slots_;        // by token, from front_token_
  std::int64_t front_token_ = 1;  // the token of slots_.front()
  std::size_t in_flight_ = 0;
  bool out_of_order_ = false;     // a position below an earlier one was added
  state::Position last_ = 0;
};

}  // namespace engine
