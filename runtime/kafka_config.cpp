// The Kafka settings users give (kafka.brokers, kafka.properties), checked before anything
// starts, and the properties applied to librdkafka's configuration.
#include <array>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "dsl/diagnostic.h"
#include "runtime/kafka.h"
#include "runtime/kafka_handles.h"

namespace saga {

// The user's librdkafka properties onto `conf`: what librdkafka refuses, named.
std::optional<std::string> kafka::set_properties(rd_kafka_conf_t* conf, const std::map<std::string, std::string>& properties) {
  for (const auto& [k, v] : properties) {
    if (auto err = kafka::set(conf, k, v)) return "kafka.properties: " + *err;
  }
  return std::nullopt;
}

std::optional<std::string> check_properties(const std::map<std::string, std::string>& properties) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  return kafka::set_properties(conf.get(), properties);
}

std::optional<std::string> check_brokers(const std::string& brokers) {
  static constexpr std::array<std::string_view, 1> kEmbedded{"embedded"};
  if (brokers == kEmbedded[0]) return std::nullopt;
  if (brokers.empty()) return std::string("kafka.brokers is empty: give HOST:PORT[,...], or embedded");
  std::string_view rest = brokers;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    auto colon = one.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == one.size() ||
        one.substr(colon + 1).find_first_not_of("0123456789") != std::string_view::npos) {
      std::string hint = dsl::closest(one, std::span<const std::string_view>(kEmbedded)).empty()
                             ? std::string()
                             : " (did you mean \"embedded\"?)";
      return "kafka.brokers \"" + std::string(one) + "\" is not HOST:PORT" + hint +
             "; give HOST:PORT[,...] of your brokers, or embedded for the development broker";
    }
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return std::nullopt;
}

}  // namespace saga
