// The participant services of the order saga (examples/sagas/order-fulfilment.yaml) over
// Kafka, built on participant::Participant: inventory, payments, billing, orders, shipping. One
// process can host any of them. Flags make a command misbehave, to watch the orchestrator
// cope:
//
//   order-services --brokers HOST:PORT [--service all|inventory|payments|billing|orders|shipping]
//                  [--fail COMMAND]... [--silent COMMAND]... [--twice COMMAND]...
//                  [--decline-over AMOUNT] [--state-dir DIR] [--group-prefix P]
//
//   --fail C     answer C with a business failure
//   --silent C   run C but never answer (the orchestrator times out and retries)
//   --twice C    answer C twice (the orchestrator ignores the duplicate)
//   --decline-over N   payments declines a charge above N (default 1000)
//   --group-prefix P   consumer groups P<service>-service (a new prefix reads the topics from the start)
//
// Each service keeps its replies by idempotency key in DIR/<topic>.replies.db, so a repeated
// command is answered from memory. Runs until SIGINT/SIGTERM.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>

#include "participant/kafka_participant.h"

namespace {

struct Service {
  const char* name;
  const char* topic;
  std::vector<const char*> commands;
};

const std::vector<Service> kServices = {
    {"inventory", "inventory.commands", {"ReserveStock", "ReleaseStock"}},
    {"payments", "payments.commands", {"ChargeCard", "RefundCard"}},
    {"billing", "billing.commands", {"CreateInvoice", "VoidInvoice"}},
    {"orders", "orders.commands", {"ConfirmOrder"}},
    {"shipping", "shipping.commands", {"Ship"}},
};

sagas::Json field(const char* name, std::string value) {
  sagas::Json j = sagas::Json::object();
  j.set(name, sagas::Json(std::move(value)));
  return j;
}

int usage(const char* why) {
  std::cerr << "order-services: " << why
            << "\nusage: order-services --brokers HOST:PORT [--service NAME] [--fail CMD] [--silent CMD] "
               "[--twice CMD] [--decline-over N] [--state-dir DIR] [--group-prefix P]\n";
  return 1;
}

// What the command line asks for.
struct Flags {
  std::string brokers;
  std::string only = "all";
  std::string state_dir = ".";
  std::string group_prefix;
  double decline_over = 1000;
  std::set<std::string> fail, silent, twice;
};

// The flags, or why they cannot be read.
std::optional<std::string> parse(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return "missing a value after " + a;
    std::string v = argv[++i];
    if (a == "--brokers") f.brokers = v;
    else if (a == "--service") f.only = v;
    else if (a == "--state-dir") f.state_dir = v;
    else if (a == "--group-prefix") f.group_prefix = v;
    else if (a == "--fail") f.fail.insert(v);
    else if (a == "--silent") f.silent.insert(v);
    else if (a == "--twice") f.twice.insert(v);
    else if (a == "--decline-over") f.decline_over = std::stod(v);
    else return "unknown option " + a;
  }
  if (f.brokers.empty()) return std::string("--brokers is required (sagactl dev-broker prints one)");
  return std::nullopt;
}

// One service on its command topic, its handlers misbehaving as the flags say.
std::unique_ptr<participant::Participant> make_service(boost::asio::io_context& io, const Service& s, const Flags& f) {
  kafka::KafkaOptions kafka;
  kafka.brokers = f.brokers;
  kafka.group_id = f.group_prefix + s.name + "-service";
  kafka.consume = kafka::KafkaOptions::Consume::assign;
  kafka.fetch_wait_max_ms = 5;
  kafka.warm_topics = {"order-fulfilment.replies"};
  participant::ParticipantOptions po;
  po.dedup_path = (std::filesystem::path(f.state_dir) / (std::string(s.topic) + ".replies.db")).string();
  auto p = std::make_unique<participant::Participant>(io, kafka, s.topic, po);
  for (const char* cmd : s.commands) {
    std::string command = cmd;
    p->on(command, [=, &f](const participant::Command& c) {
      spdlog::info("{} {} for saga {} (attempt {})", s.name, c.command, c.saga_id, c.attempt);
      if (f.fail.count(command)) return participant::Reply::failure(command + " refused (--fail)");
      if (command == "ChargeCard") {
        const sagas::Json* amount = c.payload.find("amount");
        if (amount && amount->is_number() && amount->as_double() > f.decline_over) {
          return participant::Reply::failure("card declined: amount over " + sagas::Json(f.decline_over).dump());
        }
        return participant::Reply::ok(field("chargeId", "ch-" + c.saga_id));
      }
      if (command == "ReserveStock") return participant::Reply::ok(field("reservationId", "r-" + c.saga_id));
      return participant::Reply::ok();
    });
  }
  p->copies = [&f](const participant::Command& c) {
    return f.silent.count(c.command) ? 0 : f.twice.count(c.command) ? 2 : 1;
  };
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (auto why = parse(argc, argv, f)) return usage(why->c_str());
  spdlog::set_default_logger(spdlog::stderr_color_mt("order-services"));
  std::error_code made;
  std::filesystem::create_directories(f.state_dir, made);
  if (made) {
    std::cerr << "order-services: cannot create --state-dir " << f.state_dir << ": " << made.message() << "\n";
    return 1;
  }

  boost::asio::io_context io;
  std::vector<std::unique_ptr<participant::Participant>> running;
  for (const auto& s : kServices) {
    if (f.only != "all" && f.only != s.name) continue;
    auto p = make_service(io, s, f);
    if (auto err = p->start()) {
      std::cerr << "order-services: " << s.name << ": " << *err << "\n";
      return 1;
    }
    spdlog::info("{} serving {}", s.name, s.topic);
    running.push_back(std::move(p));
  }
  if (running.empty()) return usage(("no service named " + f.only).c_str());

  auto work = boost::asio::make_work_guard(io);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    running.clear();
    work.reset();
    io.stop();
  });
  io.run();
  return 0;
}
