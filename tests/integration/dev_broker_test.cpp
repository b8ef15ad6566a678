// The development broker's size cap, over the real protocol: a request above
// DevBroker::kMaxRequestBytes is refused, and the messages around it are kept (librdkafka
// 2.0.2's mock cluster lost acknowledged messages after a batch of over 2.5 MiB).
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kafka/dev_broker.h"
#include "kafka/handles.h"

namespace {
using kafka::DevBroker;

constexpr int kClientMaxBytes = 10'000'000;  // a client that raised its own limit
constexpr int kMessageTimeoutMs = 3000;

template <typename T>
T value_of(sagas::Result<T, std::string> r) {
  if (!r) throw std::runtime_error(r.error());
  return std::move(r).value();
}

void on_report(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  *static_cast<std::optional<rd_kafka_resp_err_t>*>(m->_private) = m->err;
}

kafka::HandlePtr handle(rd_kafka_type_t type, const std::string& bootstrap,
                        const std::vector<std::pair<std::string, std::string>>& props) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  EXPECT_EQ(kafka::set(conf.get(), "bootstrap.servers", bootstrap), std::nullopt);
  EXPECT_EQ(kafka::set(conf.get(), "log_level", "0"), std::nullopt);
  for (const auto& [k, v] : props) EXPECT_EQ(kafka::set(conf.get(), k, v), std::nullopt) << k;
  if (type == RD_KAFKA_PRODUCER) rd_kafka_conf_set_dr_msg_cb(conf.get(), &on_report);
  return value_of(kafka::make_handle(type, std::move(conf)));
}

// Produces one message to partition 0 and waits for its delivery report.
rd_kafka_resp_err_t produce(rd_kafka_t* producer, const std::string& topic, const std::string& value) {
  std::optional<rd_kafka_resp_err_t> report;
  auto err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                               RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&report), RD_KAFKA_V_END);
  if (err) return err;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(3 * kMessageTimeoutMs);
  while (!report && std::chrono::steady_clock::now() < deadline) rd_kafka_poll(producer, 100);
  return report.value_or(RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE);
}

std::vector<std::string> read_from_start(const std::string& bootstrap, const std::string& topic, size_t want) {
  auto consumer = handle(RD_KAFKA_CONSUMER, bootstrap, {{"group.id", topic}, {"enable.auto.commit", "false"}});
  kafka::ListPtr parts(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  EXPECT_EQ(rd_kafka_assign(consumer.get(), parts.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::vector<std::string> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    kafka::MessagePtr m(rd_kafka_consumer_poll(consumer.get(), 100));
    if (m && !m->err) out.emplace_back(static_cast<const char*>(m->payload), m->len);
  }
  rd_kafka_consumer_close(consumer.get());
  return out;
}

TEST(DevBroker, ARequestOverItsLimitIsRefusedAndTheMessagesAroundItAreKept) {
  auto broker = value_of(DevBroker::start());
  const std::string topic = "limits";
  ASSERT_EQ(broker->create_topic(topic, 1), std::nullopt);
  auto producer = handle(RD_KAFKA_PRODUCER, broker->bootstrap(),
                         {{"message.max.bytes", std::to_string(kClientMaxBytes)},
                          {"message.timeout.ms", std::to_string(kMessageTimeoutMs)}});

  EXPECT_EQ(produce(producer.get(), topic, "before"), RD_KAFKA_RESP_ERR_NO_ERROR);
  // Over the cap, and with the message before it over the mock's retained 5 MiB.
  EXPECT_NE(produce(producer.get(), topic, std::string(DevBroker::kRetainedBytes, 'x')), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(produce(producer.get(), topic, "after"), RD_KAFKA_RESP_ERR_NO_ERROR);
  // At the cap's edge for a default client: accepted.
  EXPECT_EQ(produce(producer.get(), topic, std::string(1'000'000, 'y')), RD_KAFKA_RESP_ERR_NO_ERROR);

  auto got = read_from_start(broker->bootstrap(), topic, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "before");
  EXPECT_EQ(got[1], "after");
  EXPECT_EQ(got[2].size(), 1'000'000u);
}

}  // namespace
