// The librdkafka properties users give (kafka.properties), checked before anything starts and
// applied to librdkafka's configuration.
#include <map>
#include <string>

#include "kafka/transport.h"
#include "kafka/handles.h"

namespace kafka {

// The user's librdkafka properties onto `conf`: what librdkafka refuses, named.
std::optional<std::string> set_properties(rd_kafka_conf_t* conf, const std::map<std::string, std::string>& properties) {
  for (const auto& [k, v] : properties) {
    if (auto err = kafka::set(conf, k, v)) return "kafka.properties: " + *err;
  }
  return std::nullopt;
}

std::optional<std::string> check_properties(const std::map<std::string, std::string>& properties) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  return kafka::set_properties(conf.get(), properties);
}

}  // namespace kafka
