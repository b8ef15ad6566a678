// Embedding the engine: the order saga with in-process participants, on a real SQLite file.
// One order completes; the second is declined by payments and compensated. Prints each
// lifecycle event as it happens and then both sagas' status and history.
//
//   build/examples/embedded-order-demo [--sagas DIR] [--state FILE]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "engine/engine.h"
#include "wire/in_process.h"
#include "participant/core.h"
#include "wire/protocol.h"
#include "state/sqlite_store.h"

namespace {

sagas::Json field(const char* name, std::string value) {
  sagas::Json j = sagas::Json::object();
  j.as_object().emplace_back(name, sagas::Json(std::move(value)));
  return j;
}

// The participants: inventory, payments (declines anything over 1000), billing, orders, shipping.
std::shared_ptr<participant::ParticipantCore> order_services() {
  auto services = std::make_shared<participant::ParticipantCore>();
  services->on("ReserveStock", [](const participant::Command& c) { return participant::Reply::ok(field("reservationId", "r-" + c.saga_id)); });
  services->on("ReleaseStock", [](const participant::Command&) { return participant::Reply::ok(); });
  services->on("ChargeCard", [](const participant::Command& c) {
    const sagas::Json* amount = c.payload.find("amount");
    if (amount && amount->is_number() && amount->as_double() > 1000) return participant::Reply::failure("card declined");
    return participant::Reply::ok(field("chargeId", "ch-" + c.saga_id));
  });
  services->on("RefundCard", [](const participant::Command&) { return participant::Reply::ok(); });
  services->on("CreateInvoice", [](const participant::Command&) { return participant::Reply::ok(); });
  services->on("VoidInvoice", [](const participant::Command&) { return participant::Reply::ok(); });
  services->on("ConfirmOrder", [](const participant::Command&) { return participant::Reply::ok(); });
  services->on("Ship", [](const participant::Command&) { return participant::Reply::ok(); });
  return services;
}

// A saga's status, its steps and its history; false when they cannot be read.
bool print_saga(engine::Engine& engine, const char* id) {
  auto s = engine.status(engine::SagaId(id));
  auto history = engine.history(engine::SagaId(id));
  if (!s || !history) {
    std::fprintf(stderr, "%s: %s\n", id, (!s ? s.error() : history.error()).message.c_str());
    return false;
  }
  std::printf("\n%s  %s v%d  %s%s%s\n", id, s->saga.c_str(), s->version, std::string(sagas::to_string(s->state)).c_str(),
              s->error.empty() ? "" : "  error: ", s->error.c_str());
  for (const auto& step : s->steps) {
    std::printf("  %-16s %-12s attempts %u\n", step.name.c_str(), std::string(sagas::to_string(step.state)).c_str(),
                step.attempts);
  }
  std::printf("  history:\n");
  for (const auto& h : *history) {
    std::printf("    %s  %-26s %-15s %s\n", wire::format_time(h.at).c_str(), std::string(sagas::to_string(h.event)).c_str(),
                h.step.c_str(), h.detail.c_str());
  }
  return true;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "embedded-order-demo: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path sagas_dir = SAGACTL_EXAMPLE_SAGAS;
  std::filesystem::path state_file = std::filesystem::temp_directory_path() / "sagactl-embedded-demo.db";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--sagas") == 0) sagas_dir = argv[i + 1];
    if (std::strcmp(argv[i], "--state") == 0) state_file = argv[i + 1];
  }
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(state_file.string() + suffix);

  spdlog::set_level(spdlog::level::warn);  // the events below tell the story
  boost::asio::io_context io;
  auto store = state::SqliteStore::open({state_file.string()});
  if (!store.ok()) return fail(store.error().message);
  engine::SystemClock clock(io);
  wire::Bus bus;
  wire::InProcessTransport transport(io, bus);
  engine::Engine engine(io, **store, transport, clock);

  auto loaded = engine.load({sagas_dir / "order-fulfilment.yaml"});
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", dsl::format(d).c_str());
    return 1;
  }
  participant::InProcessParticipant participants(
      io, bus, {"inventory.commands", "payments.commands", "billing.commands", "orders.commands", "shipping.commands"},
      order_services());

  int finished = 0;
  engine.on_event([&](const engine::Event& e) {
    std::printf("  event  %-10s %-26s %-15s %s\n", e.saga_id.value().c_str(),
                std::string(sagas::to_string(e.type)).c_str(), e.step.c_str(),
                e.detail.c_str());
    if (sagas::is_terminal_event(e.type)) {
      if (++finished == 2) boost::asio::post(io, [&] { io.stop(); });
    }
  });

  if (auto st = engine.open(); !st.ok()) return fail(st.message);
  for (auto [id, input] : {std::pair{"order-1", R"({"orderId": "o-1", "amount": 42, "items": [{"sku": "tea", "qty": 2}], "express": true})"},
                           std::pair{"order-2", R"({"orderId": "o-2", "amount": 5000, "items": [{"sku": "car", "qty": 1}], "express": true})"}}) {
    auto r = engine.start("order-fulfilment", *sagas::Json::parse(input), engine::StartOptions{id});
    if (!r.ok()) return fail(r.error().message);
    std::printf("started %s\n", r->id.value().c_str());
  }
  io.run();

  for (const char* id : {"order-1", "order-2"}) {
    if (!print_saga(engine, id)) return 1;
  }
  engine.close();
  std::printf("\nstate file: %s\n", state_file.c_str());
  return 0;
}
