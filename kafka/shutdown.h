// Bounded stops for librdkafka handles (internal to kafka/).
//
// librdkafka's own close and destroy wait for the cluster: rd_kafka_consumer_close leaves
// the group, rd_kafka_destroy joins its threads, and with the brokers gone either can block
// for minutes (measured: `sagactl run` hung in rd_kafka_destroy → thrd_join after SIGTERM).
// These helpers do each step against one deadline and give up at it: flushing what can be
// flushed, closing the consumer through its queue (serving the rebalance callbacks, which
// commit the acknowledged offsets), and destroying without a second consumer close. A handle
// whose destroy outlives the deadline is left to its thread (logged): the process is
// stopping, and what was not delivered is still in the journal's outbox.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>

#include "kafka/handles.h"

namespace kafka {

using Deadline = std::chrono::steady_clock::time_point;

// Flushes the producer until the deadline; returns how many messages were left undelivered
// (then purged, so destroy does not wait for them).
int flush_by(rd_kafka_t* producer, Deadline deadline);

// Closes a consumer (leaves its group, commits through the rebalance callback) until the
// deadline; false when it gave up.
bool close_consumer_by(rd_kafka_t* consumer, Deadline deadline);

// Destroys the handle without closing a consumer again; waits until the deadline (at least
// kMinDestroyWait), then leaves it to its thread.
void destroy_by(HandlePtr handle, Deadline deadline, const char* what);

// However late a stop is, destroy is given this long: it is quick when nothing hangs.
inline constexpr std::chrono::milliseconds kMinDestroyWait{500};

}  // namespace kafka
