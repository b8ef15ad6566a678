#include "bench/echo_participant.h"

#include <charconv>
#include <string_view>

#include "bench/raw_kafka.h"
#include "wire/protocol.h"

namespace bench {

namespace {

constexpr int kPollWaitMs = 10;
constexpr std::size_t kBatch = 1000;

namespace h = wire::header;

// The header names are string literals: their views are null-terminated.
std::string_view header(rd_kafka_headers_t* headers, std::string_view name) {
  const void* value = nullptr;
  std::size_t size = 0;
  if (headers == nullptr ||
      rd_kafka_header_get_last(headers, name.data(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return {};
  }
  return {static_cast<const char*>(value), size};
}

void add(rd_kafka_headers_t* to, std::string_view name, std::string_view value) {
  rd_kafka_header_add(to, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                      static_cast<ssize_t>(value.size()));
}

// The command's reply-partition header, or the producer's partitioner's choice.
int partition_of(std::string_view text) {
  int p = 0;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), p);
  return err == std::errc() && end == text.data() + text.size() && !text.empty() ? p : RD_KAFKA_PARTITION_UA;
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
      std::string_view command = header(got, h::kCommand);
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
      rd_kafka_headers_t* out_h = rd_kafka_headers_new(6);
      add(out_h, h::kSagaId, header(got, h::kSagaId));
      add(out_h, h::kStep, header(got, h::kStep));
      add(out_h, h::kAction, header(got, h::kAction));
      add(out_h, h::kInReplyTo, header(got, h::kMessageId));
      add(out_h, h::kOutcome, declined ? "failure" : "success");
      reply_to.assign(header(got, h::kReplyTo));
      raw::produce(out.get(), reply_to.c_str(), partition_of(header(got, h::kReplyPartition)), m->key, m->key_len,
                   value.data(), value.size(), out_h);
    }
    raw::commit_offsets(in.get(), batch);
    rd_kafka_poll(out.get(), 0);
  }
  rd_kafka_flush(out.get(), 2000);
}

}  // namespace bench
