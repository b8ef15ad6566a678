// Raw librdkafka for saga-bench's ceiling and echo participant: producers and consumers set
// up as the engine's transport sets its own (kafka/transport.cpp), with none of the engine.
// Failures throw: a benchmark that cannot talk to its broker has no figures to give.
#pragma once

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "kafka/handles.h"

namespace bench::raw {

void check(std::optional<std::string> err);

// Idempotent, acks=all, linger.ms=1; counts deliveries in `delivered` (aborts on a failed one).
kafka::HandlePtr producer(const std::string& brokers, std::atomic<long>* delivered);
// Assigned every partition of `topics` from the beginning; offsets committed by hand.
kafka::HandlePtr consumer(const std::string& brokers, const std::string& group,
                                const std::vector<std::string>& topics, int fetch_wait_ms, int partitions);
// Metadata up front, so the first message does not wait for a topic scan (measured: ~1 s).
void warm(rd_kafka_t* rk, const char* topic);
// Produces a copy of key and value with `headers` (taken); waits while the queue is full.
void produce(rd_kafka_t* rk, const char* topic, int partition, const void* key, std::size_t key_len,
             const void* value, std::size_t value_len, rd_kafka_headers_t* headers);
// Up to `max` messages: waits up to `wait_ms` for the first, then takes what is there.
std::vector<kafka::MessagePtr> consume(rd_kafka_t* rk, int wait_ms, std::size_t max);
// Commits, asynchronously, the offset after the last message of each partition in `batch`.
void commit_offsets(rd_kafka_t* rk, const std::vector<kafka::MessagePtr>& batch);

}  // namespace bench::raw
