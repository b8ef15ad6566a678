#include "bench/echo_participant.h"

#include <string_view>

#include "bench/raw_kafka.h"

namespace bench {

namespace {

constexpr int kPollWaitMs = 10;
constexpr std::size_t kBatch = 1000;

std::string_view header(rd_kafka_headers_t* headers, const char* name) {
  const void* value = nullptr;
  std::size_t size = 0;
  if (headers == nullptr || rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return {};
  }
  return {static_cast<const char*>(value), size};
}

void add(rd_kafka_headers_t* to, const char* name, std::string_view value) {
  rd_kafka_header_add(to, name, -1, value.data(), static_cast<ssize_t>(value.size()));
}

int partition_of(std::string_view text) {
  int p = 0;
  for (char c : text) p = p * 10 + (c - '0');
  return text.empty() ? RD_KAFKA_PARTITION_UA : p;
}

}  // namespace

EchoParticipant::EchoParticipant(const std::string& brokers, const Settings& s, std::vector<std::string> topics,
                                 bool fail_at_confirm)
    : fail_at_confirm_(fail_at_confirm), thread_([this, brokers, s, topics = std::move(topics)] { run(brokers, s, topics); }) {}

EchoParticipant::~EchoParticipant() {
  stop_ = true;
  thread_.join();
}

void EchoParticipant::run(std::string brokers, Settings s, std::vector<std::string> topics) {
  std::atomic<long> delivered{0};
  auto in = raw::consumer(brokers, "bench.echo-participant", topics, s.fetch_wait_ms, s.partitions);
  auto out = raw::producer(brokers, &delivered);
  std::string value, reply_to;
  while (!stop_) {
    auto batch = raw::consume(in.get(), kPollWaitMs, kBatch);
    for (const auto& m : batch) {
      rd_kafka_headers_t* got = nullptr;
      rd_kafka_message_headers(m.get(), &got);
      std::string_view saga(static_cast<const char*>(m->key), m->key_len);
      std::string_view command = header(got, "saga-command");
      bool declined = fail_at_confirm_ && command == "ConfirmOrder";
      if (declined) {
        value = R"({"error":"order rejected"})";
      } else if (command == "ReserveStock") {
        value.assign(R"({"reservationId":"r-)").append(saga).append("\"}");
      } else if (command == "ChargeCard") {
        value.assign(R"({"chargeId":"ch-)").append(saga).append("\"}");
      } else {
        value = "{}";
      }
      rd_kafka_headers_t* h = rd_kafka_headers_new(6);
      add(h, "saga-id", header(got, "saga-id"));
      add(h, "saga-step", header(got, "saga-step"));
      add(h, "saga-action", header(got, "saga-action"));
      add(h, "in-reply-to", header(got, "message-id"));
      add(h, "outcome", declined ? "failure" : "success");
      reply_to.assign(header(got, "reply-to"));
      raw::produce(out.get(), reply_to.c_str(), partition_of(header(got, "reply-partition")), m->key, m->key_len,
                   value.data(), value.size(), h);
    }
    raw::commit_offsets(in.get(), batch);
    rd_kafka_poll(out.get(), 0);
  }
  rd_kafka_flush(out.get(), 2000);
}

}  // namespace bench
