// The tutorial's participant services: `accounts` (CreateAccount, DeleteAccount) and `mail`
// (SendWelcome), each runnable on its own so one can be stopped while the other runs.
//
//   signup-services accounts|mail|all [--brokers HOST:PORT]   (default 127.0.0.1:19092)
#include <signal.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "participant/kafka_participant.h"

namespace {

int usage(const std::string& why) {
  std::fprintf(stderr, "signup-services: %s\nusage: signup-services accounts|mail|all [--brokers HOST:PORT]\n",
               why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage("name the service to run");
  std::string service = args[0];
  if (service != "accounts" && service != "mail" && service != "all") return usage("no service named " + service);
  kafka::KafkaOptions kafka;
  kafka.brokers = "127.0.0.1:19092";  // sagactl's embedded broker
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] != "--brokers" || i + 1 == args.size()) return usage("unexpected " + args[i]);
    kafka.brokers = args[++i];
  }
  kafka.consume = kafka::KafkaOptions::Consume::assign;  // one instance per service: no group to wait for
  kafka.fetch_wait_max_ms = 5;                          // a step waits for one fetch: keep it short
  kafka.warm_topics = {"signup.replies"};               // the reply topic's metadata, before the first reply

  boost::asio::io_context io;
  std::vector<std::unique_ptr<participant::Participant>> running;
  if (service == "accounts" || service == "all") {
    kafka.group_id = "accounts-service";
    auto accounts = std::make_unique<participant::Participant>(io, kafka, "accounts.commands",
                                                        participant::ParticipantOptions{.dedup_path = "accounts.replies.db"});
    accounts->on("CreateAccount", [](const participant::Command& c) {
      const sagas::Json* email = c.payload.find("email");
      if (email == nullptr || !email->is_string()) return participant::Reply::failure("no email in the command");
      if (email->as_string().ends_with("@blocked.example")) return participant::Reply::failure("this domain is blocked");
      sagas::Json reply = sagas::Json::object();
      reply.set("accountId", sagas::Json("acc-" + c.saga_id));
      return participant::Reply::ok(reply);
    });
    accounts->on("DeleteAccount", [](const participant::Command&) { return participant::Reply::ok(); });
    running.push_back(std::move(accounts));
  }
  if (service == "mail" || service == "all") {
    kafka.group_id = "mail-service";
    auto mail = std::make_unique<participant::Participant>(io, kafka, "mail.commands",
                                                    participant::ParticipantOptions{.dedup_path = "mail.replies.db"});
    mail->on("SendWelcome", [](const participant::Command&) { return participant::Reply::ok(); });
    running.push_back(std::move(mail));
  }
  for (auto& p : running) {
    if (auto err = p->start()) return usage(*err);
  }
  std::fprintf(stderr, "signup-services: %s serving (brokers %s)\n", service.c_str(), kafka.brokers.c_str());
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
