#include "kafka/dev_broker.h"

#include "kafka/handles.h"  // rdkafka.h first: rdkafka_mock.h needs it
#include "kafka/tcp_forwarder.h"

#include <librdkafka/rdkafka_mock.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <string_view>

namespace kafka {
namespace {

// The mock cluster logs through its owner. A request over the cap is said in our words; the
// parse failure librdkafka logs beside it (and blames broker.version.fallback) is noise.
void on_owner_log(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  std::string_view text(buf);
  if (auto at = text.find("Invalid request size"); at != std::string_view::npos) {
    spdlog::warn("dev broker: refused a request over its limit of {} bytes ({}); the client retries it until its "
                 "message.timeout.ms, then reports it undelivered: send smaller messages",
                 DevBroker::kMaxRequestBytes, text.substr(at));
    return;
  }
  if (text.find("Protocol parse failure") != std::string_view::npos) return;
  spdlog::log(level <= 3 ? spdlog::level::err : spdlog::level::debug, "dev broker: {} {}", fac, text);
}

}  // namespace

struct DevBroker::Impl {
  kafka::HandlePtr owner;  // the idle client the mock cluster hangs off
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;
  int brokers = 1;
  std::mutex mu;
  std::set<std::string> topics;
  std::unique_ptr<TcpForwarder> front;  // the fixed bootstrap port

  ~Impl() {
    front.reset();
    if (cluster) rd_kafka_mock_cluster_destroy(cluster);
  }
};

sagas::Result<std::unique_ptr<DevBroker>, std::string> DevBroker::start(int brokers, int port) {
  if (brokers < 1 || brokers > 16) return std::string("--brokers must be between 1 and 16");
  if (port < 0 || port > 65535) return "the broker port " + std::to_string(port) + " is not between 0 and 65535";
  auto impl = std::make_unique<Impl>();
  kafka::ConfPtr conf(rd_kafka_conf_new());
  // No bootstrap for the owner: it only carries the cluster, it never connects.
  if (auto err = kafka::set(conf.get(), "log_level", "3")) return *err;
  // The mock brokers read requests up to the owner's receive.message.max.bytes (which must
  // exceed its fetch.max.bytes by 512): the size cap of dev_broker.h.
  if (auto err = kafka::set(conf.get(), "receive.message.max.bytes", std::to_string(kMaxRequestBytes))) return *err;
  if (auto err = kafka::set(conf.get(), "fetch.max.bytes", std::to_string(kMaxRequestBytes - 512))) return *err;
  rd_kafka_conf_set_log_cb(conf.get(), &on_owner_log);
  auto owner = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  if (!owner) return "cannot start the development broker: " + owner.error();
  impl->owner = std::move(*owner);
  impl->cluster = rd_kafka_mock_cluster_new(impl->owner.get(), brokers);
  if (impl->cluster == nullptr) return std::string("cannot start the development broker (no loopback port?)");
  std::string listeners = rd_kafka_mock_cluster_bootstraps(impl->cluster);
  auto front = TcpForwarder::start(port, listeners.substr(0, listeners.find(',')));
  if (!front) return "cannot start the development broker: " + front.error();
  impl->front = std::move(front).value();
  impl->bootstrap = "127.0.0.1:" + std::to_string(impl->front->port());
  impl->brokers = brokers;
  return std::unique_ptr<DevBroker>(new DevBroker(std::move(impl)));
}

DevBroker::DevBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DevBroker::~DevBroker() = default;

const std::string& DevBroker::bootstrap() const { return impl_->bootstrap; }
int DevBroker::brokers() const { return impl_->brokers; }

std::optional<std::string> DevBroker::create_topic(const std::string& name, int partitions) {
  std::lock_guard lock(impl_->mu);
  if (!impl_->topics.insert(name).second) return std::nullopt;
  auto err = rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions,
                                        std::min(impl_->brokers, 3));
  if (err) {
    impl_->topics.erase(name);
    return "cannot create topic \"" + name + "\": " + rd_kafka_err2str(err);
  }
  return std::nullopt;
}

void DevBroker::set_down(int broker_id) { rd_kafka_mock_broker_set_down(impl_->cluster, broker_id); }
void DevBroker::set_up(int broker_id) { rd_kafka_mock_broker_set_up(impl_->cluster, broker_id); }

}  // namespace kafka
