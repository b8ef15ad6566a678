// sagactl run against hostile and careless input, end to end with the real binaries: a page of
// another site, ids that cannot be used, starts too large for the broker, a damaged or shared
// state file, a huge saga file, control characters in saga text (docs/sagactl.md, "The API's
// rules" and "The state file").
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "server/admin.h"
#include "sagas/json.h"
#include "tests/e2e/operator_fixture.h"

namespace {

using namespace operator_test;

// A huge saga file (200,000 keys, under the file size limit) dropped in and SIGHUP: refused at
// the node limit while it is read, off the event loop, and the loaded set stays.
TEST_F(Operator, AHugeSagaFileOnReloadIsRefusedAndTheOrchestratorAnswersThroughout) {
  start_run();
  {
    std::ofstream huge(dir_ / "sagas" / "huge.yaml");
    huge << "apiVersion: saga/v1\nsaga: huge\nsteps:\n  - name: a\n    topic: t\n    command: C\n    payload:\n";
    for (int i = 0; i < 200'000; ++i) huge << "      k" << i << ": 1\n";  // 3.2 MB
  }
  run_->signal(SIGHUP);
  ASSERT_TRUE(await([&] {
    auto health = server::http_request(admin_, "GET", "/healthz");
    EXPECT_TRUE(health.ok() && health->status == 200) << "the loop answers during the reload";
    return run_->err().find("reload (SIGHUP) refused") != std::string::npos;
  })) << run_->err();
  EXPECT_NE(run_->err().find("huge.yaml:"), std::string::npos) << run_->err();
  EXPECT_NE(run_->err().find("the document has more than 100000 nodes"), std::string::npos) << run_->err();
  auto defs = server::http_request(admin_, "GET", "/v1/definitions");
  ASSERT_TRUE(defs.ok());
  EXPECT_EQ(defs->body.find("\"huge\""), std::string::npos);
  EXPECT_NE(defs->body.find("quick-order"), std::string::npos);
}

// A reason (or a participant's error) holding newlines and terminal escapes is data: `status`,
// `history` and the run log show it escaped; JSON carries it as it is.
TEST_F(Operator, ControlCharactersInSagaTextAreEscapedInTablesAndLogs) {
  start_run();
  start_services({"--silent", "CreateInvoice"});
  ASSERT_EQ(sagactl({"start", "quick-order", "--input", R"({"orderId": "e-1"})", "--id", "e-1"}).exit_code, 0);
  const std::string reason = "bye\n[2026-01-01 00:00:00.000] [sagactl] [info] forged\x1b[2J";
  ASSERT_TRUE(await([&] { return sagactl({"compensate", "e-1", "--reason", reason}).exit_code == 0; }));
  ASSERT_TRUE(await([&] { return state_of("e-1") == "compensated"; }));
  auto history = sagactl({"history", "e-1"});
  EXPECT_EQ(history.out.find('\x1b'), std::string::npos) << history.out;
  EXPECT_NE(history.out.find("bye\\n[2026-01-01"), std::string::npos) << history.out;
  EXPECT_NE(history.out.find("forged\\x1b[2J"), std::string::npos) << history.out;
  auto status = sagactl({"status", "e-1"});
  EXPECT_EQ(status.out.find('\x1b'), std::string::npos) << status.out;
  auto json = sagactl({"history", "e-1", "--json"});
  EXPECT_NE(json.out.find("bye\\n[2026"), std::string::npos) << json.out;
  EXPECT_EQ(run_->err().find('\x1b'), std::string::npos) << run_->err();
}

// `truncate -s 0` on the state file of a running orchestrator: it stops acknowledging (503,
// naming the problem), a read-only command refuses the file without touching its log, and a
// restart refuses it too: nothing acknowledged is lost without a word.
TEST_F(Operator, ATruncatedStateFileStopsAcknowledgingAndNothingDeletesItsLog) {
  start_run();
  start_services();
  ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--wait"}).exit_code, 0);
  std::string db = (dir_ / "state.db").string();
  std::filesystem::resize_file(db, 0);
  ASSERT_TRUE(await([&] {
    auto r = server::http_request(admin_, "GET", "/readyz");
    return r.ok() && r->status == 503 && r->body.find("truncated") != std::string::npos;
  })) << server::http_request(admin_, "GET", "/readyz")->body;
  auto started = std::chrono::steady_clock::now();
  auto refused = sagactl({"start", "order-fulfilment", "--input", kGoodOrder});
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "answered at once";
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("no saga is started while the state store cannot commit"), std::string::npos)
      << refused.err;
  auto wal = std::filesystem::file_size(db + "-wal");
  auto list = sagactl({"list"});
  EXPECT_EQ(list.exit_code, 1);
  EXPECT_NE(list.err.find("is empty but its write-ahead log"), std::string::npos) << list.err;
  ASSERT_TRUE(std::filesystem::exists(db + "-wal"));
  EXPECT_EQ(std::filesystem::file_size(db + "-wal"), wal);
  run_->signal(SIGTERM);
  run_->wait();
  EXPECT_TRUE(std::filesystem::exists(db + "-wal")) << "not checkpointed into the truncated file on the way out";
  auto restart = run_process({kBin, "run", "--config", config_});
  EXPECT_EQ(restart.exit_code, 1);
  EXPECT_NE(restart.err.find("the state file was truncated"), std::string::npos) << restart.err;
}

TEST_F(Operator, ASecondRunThroughASymlinkIsRefused) {
  start_run();
  std::filesystem::create_symlink(dir_ / "state.db", dir_ / "alias.db");
  auto second = run_process({kBin, "run", "--config", config_, "--state", (dir_ / "alias.db").string()});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("is in use by another orchestrator (pid " + std::to_string(run_->pid())), std::string::npos)
      << second.err;
}

// A start whose first command would exceed the producer's message.max.bytes is refused with
// 413 and the limit, before anything is stored (instead of a saga retrying "too large" for ever).
TEST_F(Operator, AStartTooLargeForTheBrokerIsRefusedWith413) {
  {
    std::ifstream in(config_);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.replace(text.find("  embedded_port: 0\n"), std::string("  embedded_port: 0\n").size(), "  embedded_port: 0\n  properties: {message.max.bytes: \"100000\"}\n");
    std::ofstream(config_) << text;
  }
  start_run();
  std::string items = "[";
  for (int i = 0; i < 6000; ++i) items += std::string(i ? "," : "") + R"({"sku": "s)" + std::to_string(i) + R"(", "qty": 1})";
  auto r = server::http_request(
      admin_, "POST", "/v1/sagas",
      R"({"saga": "order-fulfilment", "input": {"orderId": "o-1", "amount": 1, "items": )" + items + "]}}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("over the broker's limit of 100000"), std::string::npos) << r->body;
  EXPECT_EQ(sagactl({"list", "--json"}).out, "[]\n");
}

TEST_F(Operator, ABlankAdminTokenIsRefusedAtStartup) {
  auto r = run_process({"/usr/bin/env", "SAGACTL_ADMIN_TOKEN=  ", kBin, "run", "--config", config_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("the admin token is blank"), std::string::npos) << r.err;
}

// What a page of another site can send to a loopback endpoint without a token: an HTML form
// (text/plain, a field name holding JSON) and a compensate. Neither reaches the engine.
TEST_F(Operator, AFormOfAnotherSiteNeitherStartsNorCompensatesASaga) {
  start_run();
  start_services({"--silent", "CreateInvoice"});
  ASSERT_EQ(sagactl({"start", "quick-order", "--input", R"({"orderId": "f-1"})", "--id", "f-1"}).exit_code, 0);
  auto form = [&](const std::string& target, const std::string& body) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    auto colon = admin_.rfind(':');
    s.connect({boost::asio::ip::make_address(admin_.substr(0, colon)),
               static_cast<unsigned short>(std::stoi(admin_.substr(colon + 1)))});
    std::string request = "POST " + target + " HTTP/1.1\r\nHost: " + admin_ +
                          "\r\nOrigin: https://attacker.example\r\nContent-Type: text/plain\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    boost::asio::write(s, boost::asio::buffer(request));
    std::string answer;
    boost::system::error_code ec;
    boost::asio::read(s, boost::asio::dynamic_buffer(answer), ec);
    return answer.substr(0, answer.find("\r\n"));
  };
  EXPECT_EQ(form("/v1/sagas", R"({"saga":"quick-order","input":{"orderId":"x"},"pad":"=")"), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(form("/v1/sagas/f-1/compensate", "reason=csrf"), "HTTP/1.1 403 Forbidden");
  auto list = sagactl({"list", "--json"}).out;
  EXPECT_EQ(std::count(list.begin(), list.end(), '{'), 1) << list;
  EXPECT_EQ(state_of("f-1"), "running");
}

TEST_F(Operator, IdsOutsideTheAlphabetAreRefusedWithTheRule) {
  start_run();
  for (std::string id : {"a/b", "a?b", "order:42", "<script>"}) {
    auto cli = sagactl({"start", "quick-order", "--input", R"({"orderId": "i-1"})", "--id", id});
    EXPECT_EQ(cli.exit_code, 1) << id;
    EXPECT_NE(cli.err.find("saga ids are 1 to 128 of A-Z a-z 0-9 . _ ~ -"), std::string::npos) << cli.err;
    sagas::Json body = sagas::Json::object();
    body.set("saga", sagas::Json("quick-order"));
    body.set("id", sagas::Json(id));
    auto api = server::http_request(admin_, "POST", "/v1/sagas", body.dump());
    ASSERT_TRUE(api.ok());
    EXPECT_EQ(api->status, 400) << api->body;
  }
  auto number = server::http_request(admin_, "POST", "/v1/sagas", R"({"saga": "quick-order", "id": 12345})");
  ASSERT_TRUE(number.ok());
  EXPECT_EQ(number->status, 400) << number->body;
  EXPECT_NE(number->body.find("must be a string"), std::string::npos) << number->body;
  auto latin1 = server::http_request(admin_, "POST", "/v1/sagas", "{\"saga\": \"quick-order\", \"input\": {\"orderId\": \"M\xfc\"}}");
  ASSERT_TRUE(latin1.ok());
  EXPECT_EQ(latin1->status, 400) << latin1->body;
  EXPECT_EQ(sagactl({"list", "--json"}).out, "[]\n");
  auto put = server::http_request(admin_, "PUT", "/v1/sagas", "{}");
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->status, 405) << put->body;
}

TEST_F(Operator, AStartWithAnExistingIdAndAnotherInputIsRefusedNotDropped) {
  start_run();
  ASSERT_EQ(sagactl({"start", "quick-order", "--input", R"({"orderId": "s-1"})", "--id", "s-1"}).exit_code, 0);
  auto same = sagactl({"start", "quick-order", "--input", R"({"orderId": "s-1"})", "--id", "s-1"});
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_EQ(same.out, "s-1\n");
  auto other = sagactl({"start", "quick-order", "--input", R"({"orderId": "s-2"})", "--id", "s-1"});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("saga s-1 exists with a different input"), std::string::npos) << other.err;
  auto api = server::http_request(admin_, "POST", "/v1/sagas",
                                   R"({"saga": "quick-order", "id": "s-1", "input": {"orderId": "s-3"}})");
  ASSERT_TRUE(api.ok());
  EXPECT_EQ(api->status, 409) << api->body;
  EXPECT_NE(api->body.find(R"({"error":"saga s-1 exists with a different input)"), std::string::npos) << api->body;
}

}  // namespace
