// The benchmark's scenarios. Each runs in its own process (main.cpp forks), so peak RSS and
// CPU time are that scenario's alone, and returns its figures as JSON.
#pragma once

#include <string>

#include "sagas/json.h"

namespace bench {

struct Settings {
  std::string dir;          // where state files go (a fresh directory per scenario)
  int sagas = 10'000;       // measured sagas (the ceiling: 3 round trips per saga)
  int concurrency = 500;    // sagas (or round trips) in flight
  int warmup = 500;         // run first and not measured
  int fetch_wait_ms = 1;    // consumers' fetch.wait.max.ms, as `brokers: embedded` sets it
  int partitions = 1;       // of every topic, as `sagactl run` creates them
  double ceiling_seconds = 3;  // the ceiling runs at least this long (it is fast)
  bool events = false;      // publish lifecycle events (built from the journal, as `sagactl run` does)
  std::string postgres;     // the engine's store: this PostgreSQL database (emptied first), not a SQLite file
};

// The steps of the benchmark's order saga: reserve-stock, charge-card, confirm-order.
inline constexpr int kStepsPerSaga = 3;

// Raw librdkafka request/reply round trips through the mock cluster to an echo thread; with
// `durable`, one SQLite upsert per reply, committed in groups (synchronous=FULL) before the
// next request goes out. No engine: what this machine can do at best.
sagas::Json run_ceiling(const Settings& s, bool durable);

enum class Wire { kafka, in_process };
// Over Kafka: the ceiling's kind of participant (echo_participant.h: one raw consumer and
// producer for every command topic), or a participant SDK service per command topic.
enum class Participants { echo, sdk };

// The engine over the order saga with echo participants: Kafka through the embedded broker,
// or the in-process bus (the SDK's core there, whatever `participants`). With
// `fail_at_confirm`, confirm-order is declined, so each saga also runs two compensations.
sagas::Json run_engine(const Settings& s, Wire wire, bool fail_at_confirm, Participants participants = Participants::echo);

// The order saga over Kafka on a cluster of `nodes` ClusterNodes in this process, sharing the
// PostgreSQL database `s.postgres`; shards: `s.partitions`.
sagas::Json run_cluster(const Settings& s, int nodes);

}  // namespace bench
