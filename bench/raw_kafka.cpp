#include "bench/raw_kafka.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <utility>

namespace bench::raw {


void check(std::optional<std::string> err) {
  if (err) throw std::runtime_error(*err);
}

kafka::HandlePtr producer(const std::string& brokers, std::atomic<long>* delivered) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  for (auto [k, v] : {std::pair{"bootstrap.servers", brokers}, {"enable.idempotence", "true"}, {"acks", "all"},
                      {"linger.ms", "1"}}) {
    check(kafka::set(conf.get(), k, v));
  }
  rd_kafka_conf_set_opaque(conf.get(), delivered);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err) {  // no exceptions through librdkafka's C frames; the figures would be wrong anyway
      std::fprintf(stderr, "saga-bench: delivery failed: %s\n", rd_kafka_err2str(m->err));
      std::abort();
    }
    ++*static_cast<std::atomic<long>*>(opaque);
  });
  auto h = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  if (!h) throw std::runtime_error(h.error());
  return std::move(*h);
}

kafka::HandlePtr consumer(const std::string& brokers, const std::string& group, const std::vector<std::string>& topics,
                          int fetch_wait_ms, int partitions) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  for (auto [k, v] : {std::pair{"bootstrap.servers", brokers}, {"group.id", group}, {"enable.auto.commit", "false"},
                      {"enable.auto.offset.store", "false"}, {"auto.offset.reset", "earliest"},
                      {"fetch.wait.max.ms", std::to_string(fetch_wait_ms)}}) {
    check(kafka::set(conf.get(), k, v));
  }
  auto h = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
  if (!h) throw std::runtime_error(h.error());
  rd_kafka_poll_set_consumer(h->get());
  kafka::ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()) * partitions));
  for (const auto& topic : topics) {
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  if (auto err = rd_kafka_assign(h->get(), list.get())) throw std::runtime_error(rd_kafka_err2str(err));
  return std::move(*h);
}

void warm(rd_kafka_t* rk, const char* topic) {
  kafka::TopicPtr t(rd_kafka_topic_new(rk, topic, nullptr));
  const struct rd_kafka_metadata* md = nullptr;
  if (rd_kafka_metadata(rk, 0, t.get(), &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) kafka::MetadataPtr owned(md);
}

void produce(rd_kafka_t* rk, const char* topic, int partition, const void* key, std::size_t key_len, const void* value,
             std::size_t value_len, rd_kafka_headers_t* headers) {
  rd_kafka_vu_t vus[6];
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = topic;
  vus[1].vtype = RD_KAFKA_VTYPE_KEY;
  vus[1].u.mem = {const_cast<void*>(key), key_len};
  vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[2].u.mem = {const_cast<void*>(value), value_len};
  vus[3].vtype = RD_KAFKA_VTYPE_HEADERS;
  vus[3].u.headers = headers;
  vus[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[4].u.i = RD_KAFKA_MSG_F_COPY;
  vus[5].vtype = RD_KAFKA_VTYPE_PARTITION;
  vus[5].u.i32 = partition;
  while (rd_kafka_error_t* e = rd_kafka_produceva(rk, vus, 6)) {
    bool full = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
    std::string text = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    if (!full) {
      rd_kafka_headers_destroy(headers);
      throw std::runtime_error("produce: " + text);
    }
    rd_kafka_poll(rk, 1);
  }
}

std::vector<kafka::MessagePtr> consume(rd_kafka_t* rk, int wait_ms, std::size_t max) {
  std::vector<kafka::MessagePtr> out;
  for (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, wait_ms); m != nullptr;
       m = out.size() < max ? rd_kafka_consumer_poll(rk, 0) : nullptr) {
    kafka::MessagePtr owned(m);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) out.push_back(std::move(owned));
  }
  return out;
}

void commit_offsets(rd_kafka_t* rk, const std::vector<kafka::MessagePtr>& batch) {
  if (batch.empty()) return;
  std::map<std::pair<std::string, int>, std::int64_t> next;
  for (const auto& m : batch) next[{rd_kafka_topic_name(m->rkt), m->partition}] = m->offset + 1;
  kafka::ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(next.size())));
  for (const auto& [at, offset] : next) {
    rd_kafka_topic_partition_list_add(list.get(), at.first.c_str(), at.second)->offset = offset;
  }
  rd_kafka_commit(rk, list.get(), 1);
}

}  // namespace bench::raw
