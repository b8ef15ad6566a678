// Outbox: the messages handed to the transport and not yet confirmed by the broker, and the
// delivered watermark they imply (state/store.h): every journal entry at or before it has had
// all its messages confirmed, so recovery need not send them again. Pure bookkeeping, owned
// by the engine's executor.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>

#include "engine/transport.h"
#include "state/store.h"

namespace saga {

class Outbox {
 public:
  // Records a message of the entry at `position`, about to be sent; returns its token (the
  // transport's outbox id).
  std::int64_t add(state::Position position, Message message);
  // The message in flight with this token, or nullptr (confirmed, or never added).
  const Message* find(std::int64_t token) const;
  // The broker has it: forgets it. False for a token not in flight.
  bool confirm(std::int64_t token);

  // The newest position committed: entries up to it with nothing in flight count as delivered.
  void committed(state::Position last);
  state::Position watermark() const;
  std::size_t in_flight() const { return inflight_.size(); }

 private:
  struct InFlight {
    state::Position position = 0;
    Message message;
  };
  std::unordered_map<std::int64_t, InFlight> inflight_;
  std::map<state::Position, std::size_t> per_entry_;  // position -> messages in flight
  state::Position last_ = 0;
  std::int64_t next_token_ = 1;
};

}  // namespace saga
