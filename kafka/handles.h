// RAII over librdkafka's C handles (internal to kafka/; never included by public headers).
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sagas/result.h"

namespace kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct MetadataDeleter {
  void operator()(const struct rd_kafka_metadata* m) const { rd_kafka_metadata_destroy(m); }
};

using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using MetadataPtr = std::unique_ptr<const struct rd_kafka_metadata, MetadataDeleter>;

// Sets one property; librdkafka's own message when it refuses (unknown name, bad value).
inline std::optional<std::string> set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512] = {0};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return std::string(err);
  }
  return std::nullopt;
}

// rd_kafka_new takes the configuration only when it succeeds.
inline sagas::Result<HandlePtr, std::string> make_handle(rd_kafka_type_t type, ConfPtr conf) {
  char err[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) return std::string(err);
  conf.release();
  return HandlePtr(rk);
}

// The user's librdkafka properties (kafka.properties) onto `conf`: what librdkafka refuses,
// named (kafka_config.cpp).
std::optional<std::string> set_properties(rd_kafka_conf_t* conf, const std::map<std::string, std::string>& properties);

}  // namespace kafka
