// sagactl for operators, end to end with the real binaries: `sagactl run` (embedded broker,
// a config file) and the example participant services as separate processes, driven by
// `sagactl start|status|list|history|compensate` as a user would, plus the admin endpoint.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>


#include "server/admin.h"
#include "sagas/json.h"
#include "tests/e2e/operator_fixture.h"
#include "tests/e2e/process.h"

namespace {

using namespace operator_test;

TEST_F(Operator, StartWaitExitsWithTheSpecCodesAndPrintsTheIdFirst) {
  start_run();
  start_services();
  auto ok = sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "order-1", "--wait"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.substr(0, ok.out.find('\n')), "order-1");
  EXPECT_NE(ok.out.find("completed"), std::string::npos) << ok.out;

  std::ofstream(dir_ / "declined.json") << kDeclined;
  auto declined = sagactl({"start", "order-fulfilment", "--input", "@" + (dir_ / "declined.json").string(), "--wait"});
  EXPECT_EQ(declined.exit_code, 2) << declined.err;
  EXPECT_TRUE(std::regex_match(declined.out.substr(0, declined.out.find('\n')),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << declined.out;
  EXPECT_NE(declined.out.find("compensated: step \"charge-card\" failed: card declined"), std::string::npos);

  auto status = sagactl({"status", "order-1", "--json"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find(R"("state":"completed")"), std::string::npos) << status.out;
  auto list = sagactl({"list", "--json"});
  EXPECT_EQ(std::count(list.out.begin(), list.out.end(), '{'), 2) << list.out;
  auto history = sagactl({"history", "order-1"});
  EXPECT_NE(history.out.find("saga-completed"), std::string::npos) << history.out;

  // Paths in a config file are relative to its folder, wherever the command runs from.
  std::ofstream(dir_ / "relative.yaml") << "sagas: sagas\nstate: state.db\n";
  auto elsewhere = run_process({kBin, "status", "order-1", "--config", (dir_ / "relative.yaml").string()}, "/");
  EXPECT_EQ(elsewhere.exit_code, 0) << elsewhere.err;
  EXPECT_NE(elsewhere.out.find("completed"), std::string::npos) << elsewhere.out;
}

TEST_F(Operator, TheSagaListOfTheAdminApiFiltersAndPagesLikeTheCli) {
  start_run();
  start_services();
  ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "good", "--wait"}).exit_code, 0);
  ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kDeclined, "--id", "declined", "--wait"}).exit_code, 2);
  auto get = [&](const std::string& target) { return server::http_request(admin_, "GET", target); };
  auto all = get("/v1/sagas");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->status, 200);
  EXPECT_EQ(all->body, sagactl({"list", "--json"}).out) << "the API and the CLI answer alike";
  auto completed = get("/v1/sagas?status=completed&saga=order-fulfilment");
  EXPECT_NE(completed->body.find(R"("id":"good")"), std::string::npos) << completed->body;
  EXPECT_EQ(completed->body.find(R"("id":"declined")"), std::string::npos) << completed->body;
  auto page = get("/v1/sagas?limit=1&offset=1");
  EXPECT_EQ(std::count(page->body.begin(), page->body.end(), '{'), 1) << page->body;
  EXPECT_NE(page->body.find(R"("id":"good")"), std::string::npos) << "newest first: " << page->body;
  for (const char* bad : {"/v1/sagas?status=done", "/v1/sagas?limit=0", "/v1/sagas?colour=red"}) {
    auto r = get(bad);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(r->body.find("\"error\""), std::string::npos) << r->body;
  }
}

// What the console reads: counts per state and definition, keyset pages, the filters, the
// definitions with their Graphviz graphs, and its page shell for every console route.
TEST_F(Operator, TheConsoleApiCountsPagesAndDrawsTheDefinitions) {
  start_run();
  start_services();
  ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "good", "--wait"}).exit_code, 0);
  ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kDeclined, "--id", "declined", "--wait"}).exit_code, 2);
  auto get = [&](const std::string& target) {
    auto r = server::http_request(admin_, "GET", target);
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? *r : server::HttpResponse{-1, "", "", {}};
  };
  auto counts = sagas::Json::parse(get("/v1/counts").body);
  ASSERT_TRUE(counts) << "JSON";
  EXPECT_EQ(counts->find("total")->as_integer(), 2);
  EXPECT_EQ(counts->find("states")->find("completed")->as_integer(), 1);
  EXPECT_EQ(counts->find("states")->find("compensated")->as_integer(), 1);
  EXPECT_EQ(counts->find("states")->find("running")->as_integer(), 0);
  EXPECT_EQ(sagas::Json::parse(get("/v1/counts?saga=money-transfer").body)->find("total")->as_integer(), 0);

  // Keyset paging: the page after "declined" (the newest) holds "good".
  auto after = get("/v1/sagas?after=declined&limit=5");
  EXPECT_NE(after.body.find(R"("id":"good")"), std::string::npos) << after.body;
  EXPECT_EQ(after.body.find(R"("id":"declined")"), std::string::npos) << after.body;
  EXPECT_NE(get("/v1/sagas?id=goo").body.find(R"("id":"good")"), std::string::npos);
  EXPECT_EQ(get("/v1/sagas?version=1").body, "[]\n");
  EXPECT_EQ(get("/v1/sagas?from=1").body, get("/v1/sagas").body);
  EXPECT_EQ(get("/v1/sagas?until=1").body, "[]\n");
  for (const char* bad : {"/v1/sagas?after=nope", "/v1/sagas?version=x", "/v1/counts?status=running", "/v1/counts?from=-1"}) {
    auto r = get(bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
  }

  auto defs = sagas::Json::parse(get("/v1/definitions").body);
  ASSERT_TRUE(defs && defs->is_array());
  bool found = false;
  for (const auto& d : defs->as_array()) {
    if (d.find("saga")->as_string() != "order-fulfilment") continue;
    found = true;
    EXPECT_EQ(d.find("version")->as_integer(), 2);
    EXPECT_EQ(d.find("steps")->as_array().size(), 5u);
    EXPECT_EQ(d.find("states")->find("compensated")->as_integer(), 1);
  }
  EXPECT_TRUE(found) << "order-fulfilment is listed";
  auto svg = get("/v1/definitions/order-fulfilment/2/graph.svg");
  EXPECT_EQ(svg.status, 200);
  EXPECT_EQ(svg.content_type, "image/svg+xml");
  EXPECT_NE(svg.body.find("<svg"), std::string::npos);
  // Graphviz writes '-' as &#45;: the element ids are step-charge-card and undo-reserve-stock.
  EXPECT_NE(svg.body.find(R"(id="step&#45;charge&#45;card")"), std::string::npos) << "nodes carry the step's name";
  EXPECT_NE(svg.body.find(R"(id="undo&#45;reserve&#45;stock")"), std::string::npos);
  EXPECT_EQ(get("/v1/definitions/order-fulfilment/9/graph.svg").status, 404);

  for (const char* page : {"/", "/sagas", "/sagas/good", "/sagas/no-such-saga", "/definitions", "/definitions/x"}) {
    auto r = get(page);
    EXPECT_EQ(r.status, 200) << page;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << page;
    EXPECT_NE(r.body.find("/assets/app.js"), std::string::npos) << page;
  }
  EXPECT_EQ(get("/assets/app.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(get("/assets/app.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(get("/assets/nothing.js").status, 404);
}

TEST_F(Operator, SighupLoadsNewSagaFilesAndABadFileKeepsTheLoadedSet) {
  start_run();
  start_services();
  std::string renamed = kQuickSaga;
  renamed.replace(renamed.find("saga: quick-order"), 17, "saga: quick-later");
  std::ofstream(dir_ / "sagas" / "quick-later.yaml") << renamed;
  run_->signal(SIGHUP);
  ProcessResult started;
  ASSERT_TRUE(await([&] {  // the same id every time: one saga, once the definition is there
    started = sagactl({"start", "quick-later", "--id", "later-1", "--input", R"({"orderId": "o-9"})", "--wait"});
    return started.exit_code == 0;
  })) << started.err << run_->err();

  std::ofstream(dir_ / "sagas" / "broken.yaml") << "apiVersion: saga/v1\nsaga: broken\nsteps: []\n";
  run_->signal(SIGHUP);
  ASSERT_TRUE(await([&] { return run_->err().find("reload (SIGHUP) refused") != std::string::npos; })) << run_->err();
  EXPECT_NE(run_->err().find("broken.yaml:3:8: error"), std::string::npos) << run_->err();
  auto still = sagactl({"start", "quick-order", "--input", R"({"orderId": "o-10"})", "--wait"});
  EXPECT_EQ(still.exit_code, 0) << still.out << still.err;
}

TEST_F(Operator, TheEventsOfASagaAreFollowedByALongPollThatMissesNone) {
  start_run();
  start_services({"--silent", "CreateInvoice"});  // the saga waits in create-invoice, retrying
  ASSERT_EQ(sagactl({"start", "quick-order", "--id", "q-1", "--input", R"({"orderId": "o-1"})"}).exit_code, 0);
  auto get = [&](const std::string& target) { return server::http_request(admin_, "GET", target, "", 30000); };
  std::regex next_of("\"next\":([0-9]+)");
  std::smatch m;
  auto first = get("/v1/sagas/q-1/events?after=0");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_NE(first->body.find(R"("event":"saga-started")"), std::string::npos) << first->body;
  ASSERT_TRUE(std::regex_search(first->body, m, next_of)) << first->body;
  int seen = std::stoi(m[1]);
  // Nothing new yet: the answer waits for the next transition (create-invoice times out).
  auto waited = get("/v1/sagas/q-1/events?after=" + std::to_string(seen) + "&wait=20000");
  ASSERT_TRUE(waited.ok());
  ASSERT_TRUE(std::regex_search(waited->body, m, next_of)) << waited->body;
  EXPECT_GT(std::stoi(m[1]), seen) << waited->body;
  EXPECT_EQ(waited->body.find(R"("event":"saga-started")"), std::string::npos) << "only what came after: " << waited->body;
  EXPECT_NE(waited->body.find(R"("state":"running")"), std::string::npos) << waited->body;
  auto unknown = get("/v1/sagas/nope/events");
  EXPECT_EQ(unknown->status, 404) << unknown->body;
  // A saga not started yet (a start a cluster node hands to its owner) is waited for too: the
  // answer comes with its first transition, not after the wait.
  auto later = std::async(std::launch::async, [&] { return get("/v1/sagas/q-later/events?after=0&wait=25000"); });
  ASSERT_EQ(later.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout) << "answered before the start";
  auto asked = std::chrono::steady_clock::now();
  ASSERT_EQ(sagactl({"start", "quick-order", "--id", "q-later", "--input", R"({"orderId": "o-9"})"}).exit_code, 0);
  auto arrived = later.get();
  ASSERT_TRUE(arrived.ok());
  EXPECT_EQ(arrived->status, 200) << arrived->body;
  EXPECT_NE(arrived->body.find(R"("event":"saga-started")"), std::string::npos) << arrived->body;
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(20)) << "the wait ran out instead";
  auto never = get("/v1/sagas/never/events?wait=200");
  EXPECT_EQ(never->status, 404) << never->body;
  auto bad = get("/v1/sagas/q-1/events?after=x");
  EXPECT_EQ(bad->status, 400) << bad->body;
}

TEST_F(Operator, StartRefusesBadInputBeforeAnythingIsStored) {
  start_run();
  auto bad_json = sagactl({"start", "order-fulfilment", "--input", R"({"orderId": oops})"});
  EXPECT_EQ(bad_json.exit_code, 1);
  EXPECT_EQ(bad_json.err, "start: --input is not JSON: line 1, column 13: expected a value\n");
  auto schema = sagactl({"start", "order-fulfilment", "--input", R"({"orderId": "", "amount": -1})"});
  EXPECT_EQ(schema.exit_code, 1);
  EXPECT_NE(schema.err.find("$.orderId: "), std::string::npos) << schema.err;
  EXPECT_NE(schema.err.find("$.amount: must be >= 0, got -1"), std::string::npos) << schema.err;
  auto unknown = sagactl({"start", "order-fulfillment"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no saga named \"order-fulfillment\" is loaded"), std::string::npos) << unknown.err;
  auto missing = sagactl({"start", "order-fulfilment", "--input", "@/nonexistent.json"});
  EXPECT_EQ(missing.err, "start: cannot read the input file /nonexistent.json\n");
  EXPECT_EQ(sagactl({"list", "--json"}).out, "[]\n");
}

TEST_F(Operator, AStartWithAnIdIsIdempotent) {
  start_run();
  start_services();
  auto first = sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "same", "--wait"});
  auto second = sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "same"});
  EXPECT_EQ(first.exit_code, 0);
  EXPECT_EQ(second.exit_code, 0);
  EXPECT_EQ(second.out, "same\n");
  std::string list = sagactl({"list", "--json"}).out;
  EXPECT_EQ(std::count(list.begin(), list.end(), '{'), 1) << list;
}

TEST_F(Operator, CompensateAbortsARunningSaga) {
  start_run();
  start_services({"--silent", "CreateInvoice"});  // the saga waits on its second step
  auto started = sagactl({"start", "quick-order", "--input", R"({"orderId": "q-1"})", "--id", "q-1"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  ASSERT_TRUE(await([&] {
    return sagactl({"history", "q-1", "--json"}).out.find(R"("event":"step-started","step":"create-invoice")") !=
           std::string::npos;
  }));
  // A prefix is resolved by the orchestrator's API (the command reads no state file).
  ASSERT_EQ(sagactl({"start", "quick-order", "--input", R"({"orderId": "q-22"})", "--id", "q-22"}).exit_code, 0);
  auto ambiguous = sagactl({"compensate", "q-"});
  EXPECT_EQ(ambiguous.exit_code, 1);
  EXPECT_NE(ambiguous.err.find("the id prefix \"q-\" matches more than one saga"), std::string::npos) << ambiguous.err;
  auto by_prefix = sagactl({"compensate", "q-2"});
  EXPECT_EQ(by_prefix.exit_code, 0) << by_prefix.err;
  EXPECT_EQ(by_prefix.out, "compensating q-22\n");
  auto c = sagactl({"compensate", "q-1", "--reason", "customer cancelled"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out, "compensating q-1\n");
  EXPECT_TRUE(await([&] { return state_of("q-1") == "compensated"; }));
  auto status = sagactl({"status", "q-1", "--json"});
  EXPECT_NE(status.out.find("compensation requested: customer cancelled"), std::string::npos) << status.out;
  auto again = sagactl({"compensate", "q-1"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "compensate: saga q-1 has already finished (compensated)\n");
  auto unknown = sagactl({"compensate", "nope"});
  EXPECT_EQ(unknown.err, "compensate: no saga with id \"nope\"\n");
}

TEST_F(Operator, ASecondRunOnTheSameStateFileIsRefused) {
  start_run();
  auto second = run_process({kBin, "run", "--config", config_});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("is in use by another orchestrator (pid " + std::to_string(run_->pid()) + ")"),
            std::string::npos)
      << second.err;
}

TEST_F(Operator, SigtermDrainsAndARestartFinishesEverything) {
  start_run();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "d-" + std::to_string(i)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ids.push_back("d-" + std::to_string(i));
  }
  run_->signal(SIGTERM);  // no participant has answered yet
  EXPECT_EQ(run_->wait(), 0) << run_->err();
  for (const auto& id : ids) EXPECT_EQ(state_of(id), "running");
  start_run();  // a new broker: the commands waiting in the outbox go out again
  start_services();
  for (const auto& id : ids) EXPECT_TRUE(await([&] { return state_of(id) == "completed"; })) << id;
}

TEST_F(Operator, ADamagedRowIsReportedAndRunRefusesToStartOverIt) {
  start_run();
  for (const char* id : {"fine-1", "torn-1"}) {
    ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", id}).exit_code, 0);
  }
  run_->signal(SIGTERM);  // no participant: both stay running
  ASSERT_EQ(run_->wait(), 0) << run_->err();
  auto db = (dir_ / "state.db").string();
  auto damage = run_process({"/usr/bin/sqlite3", db, "UPDATE journal SET data = json_replace(data, '$.snapshot', '{torn') WHERE saga_num = (SELECT num FROM sagas WHERE id = 'torn-1')"});
  ASSERT_EQ(damage.exit_code, 0) << damage.err;

  // The list reads the sagas' summaries, which are intact: both are shown.
  auto list = sagactl({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("fine-1"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("torn-1"), std::string::npos) << "shown, not hidden: " << list.out;
  auto status = sagactl({"status", "torn-1"});
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_NE(status.err.find("torn-1"), std::string::npos) << status.err;
  EXPECT_EQ(status.err.find("no saga"), std::string::npos) << "damaged is not \"not found\": " << status.err;
  auto history = sagactl({"history", "torn-1"});
  EXPECT_EQ(history.exit_code, 1);
  EXPECT_NE(history.out.find("saga-started"), std::string::npos) << "its history is still shown: " << history.out;

  auto run = run_process({kBin, "run", "--config", config_});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("torn-1"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("backup"), std::string::npos) << run.err;

  // A damaged summary is listed as unreadable, beside the good ones.
  auto summary = run_process({"/usr/bin/sqlite3", db, "UPDATE sagas SET state = 'dancing' WHERE id = 'torn-1'"});
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  auto relisted = sagactl({"list"});
  EXPECT_EQ(relisted.exit_code, 1);
  EXPECT_NE(relisted.out.find("fine-1"), std::string::npos) << relisted.out;
  EXPECT_NE(relisted.out.find("torn-1"), std::string::npos) << "shown, not hidden: " << relisted.out;
  EXPECT_NE(relisted.out.find("unreadable"), std::string::npos) << relisted.out;
}

TEST_F(Operator, AKilledRunResumesWhereItStopped) {
  start_run();
  start_services({"--silent", "CreateInvoice"});
  ASSERT_EQ(sagactl({"start", "quick-order", "--input", R"({"orderId": "k-1"})", "--id", "k-1"}).exit_code, 0);
  ASSERT_TRUE(await([&] {
    return sagactl({"history", "k-1", "--json"}).out.find(R"("event":"step-started","step":"create-invoice")") !=
           std::string::npos;
  }));
  run_->signal(SIGKILL);
  EXPECT_EQ(run_->wait(), -SIGKILL);
  EXPECT_EQ(state_of("k-1"), "running");
  services_.reset();
  start_run();
  start_services();
  // The saga goes on from its last commit: the attempt in flight times out, the retry (same
  // idempotency key) is answered from the participant's reply log. (The services restart
  // too, joining their groups: attempts leave them 15 s, slow sanitizer builds included.)
  EXPECT_TRUE(await([&] { return state_of("k-1") == "completed"; })) << state_of("k-1");
  auto history = sagactl({"history", "k-1", "--json"}).out;
  EXPECT_EQ(std::count(history.begin(), history.end(), '{') > 0, true);
  EXPECT_EQ(history.find("saga-started"), history.rfind("saga-started")) << "started twice: " << history;
}

TEST_F(Operator, ReadyzAnswersOnceCaughtUpAndRunLogsIt) {
  run_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{kBin, "run", "--config", config_, "--log-level", "info"});
  ASSERT_TRUE(await([&] { return !line_value(run_->out(), "admin: ").empty(); })) << run_->err();
  admin_ = line_value(run_->out(), "admin: ");
  ASSERT_TRUE(await([&] {
    auto r = server::http_request(admin_, "GET", "/readyz");
    return r.ok() && r->status == 200;
  })) << run_->err();
  auto ready = server::http_request(admin_, "GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.error();
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "{\"status\":\"ready\"}\n");
  EXPECT_NE(run_->err().find("ready"), std::string::npos) << "run logs when it becomes ready: " << run_->err();
}

TEST_F(Operator, TheAdminTokenGuardsEveryRequestButTheProbes) {
  std::ofstream(dir_ / "token") << "s3cret-token\n";
  std::ofstream(config_, std::ios::app) << "admin:\n  address: 127.0.0.1:0\n  token_file: " << (dir_ / "token").string()
                                        << "\n";
  // The appended admin mapping replaces the scalar one: rewrite the file without it.
  {
    std::ifstream in(config_);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.erase(text.find("admin: 127.0.0.1:0\n"), std::string("admin: 127.0.0.1:0\n").size());
    std::ofstream(config_) << text;
  }
  start_run();
  start_services();
  auto call = [&](const std::string& method, const std::string& target, const std::string& token) {
    auto r = server::http_request(admin_, method, target, "{}", 10'000, token);
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? r->status : -1;
  };
  EXPECT_EQ(call("GET", "/healthz", ""), 200);
  EXPECT_EQ(call("GET", "/readyz", ""), 200);
  EXPECT_EQ(call("GET", "/metrics", ""), 401);
  auto hint = server::http_request(admin_, "GET", "/metrics", "", 10'000, "");
  ASSERT_TRUE(hint.ok()) << hint.error();
  for (const char* fix : {"Authorization: Bearer", "--admin-token-file", "SAGACTL_ADMIN_TOKEN", "admin.token_file"}) {
    EXPECT_NE(hint->body.find(fix), std::string::npos) << "the 401 names " << fix << ": " << hint->body;
  }
  EXPECT_EQ(call("GET", "/v1/sagas/nope", ""), 401);
  EXPECT_EQ(call("GET", "/v1/counts", ""), 401);
  EXPECT_EQ(call("GET", "/v1/definitions", ""), 401);
  EXPECT_EQ(call("GET", "/v1/definitions/order-fulfilment/2/graph.svg", ""), 401);
  EXPECT_EQ(call("GET", "/v1/counts", "s3cret-token"), 200);
  EXPECT_EQ(call("GET", "/", ""), 200) << "the console's shell holds no data; its API calls carry the token";
  EXPECT_EQ(call("GET", "/assets/app.js", ""), 200);
  EXPECT_EQ(call("POST", "/v1/sagas/nope/compensate", ""), 401);
  EXPECT_EQ(call("POST", "/v1/sagas/nope/compensate", "wrong-token"), 401);
  EXPECT_EQ(call("POST", "/v1/sagas/nope/compensate", "s3cret-token"), 404);
  auto missing = server::http_request(admin_, "GET", "/metrics");
  ASSERT_TRUE(missing.ok());
  EXPECT_NE(missing->body.find("Authorization: Bearer"), std::string::npos) << missing->body;
  // sagactl sends the token from the same configuration.
  EXPECT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--wait"}).exit_code, 0);
  std::ofstream(dir_ / "wrong") << "guess\n";
  auto refused = sagactl({"compensate", "some-id", "--admin-token-file", (dir_ / "wrong").string()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("token does not match"), std::string::npos) << refused.err;
}

TEST_F(Operator, ANonLoopbackAdminAddressWithoutATokenIsRefused) {
  auto r = run_process({kBin, "run", "--config", config_, "--admin", "0.0.0.0:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("without credentials"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("admin.token"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("bootstrap:"), std::string::npos) << "refused before anything started";
  // With a token from the environment it listens.
  BackgroundProcess with_token({"/usr/bin/env", "SAGACTL_ADMIN_TOKEN=t0ken", kBin, "run", "--config", config_, "--admin",
                                "0.0.0.0:0"});
  EXPECT_TRUE(await([&] { return !line_value(with_token.out(), "admin: ").empty(); })) << with_token.err();
}

TEST_F(Operator, MetricsAreValidPrometheusTextAndCountWhatHappened) {
  start_run();
  start_services();
  EXPECT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--wait"}).exit_code, 0);
  EXPECT_EQ(sagactl({"start", "order-fulfilment", "--input", kDeclined, "--wait"}).exit_code, 2);
  auto health = server::http_request(admin_, "GET", "/healthz");
  ASSERT_TRUE(health.ok()) << health.error();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "{\"status\":\"ok\",\"store\":\"ok\",\"broker\":\"ok\"}\n");
  auto m = server::http_request(admin_, "GET", "/metrics");
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->content_type, "text/plain; version=0.0.4; charset=utf-8");
  std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9.]+(e[-+]?[0-9]+)?|\+Inf|NaN)$)");
  std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::istringstream in(m->body);
  for (std::string line; std::getline(in, line);) {
    EXPECT_TRUE(std::regex_match(line, sample) || std::regex_match(line, comment)) << line;
  }
  for (const char* expected : {R"(sagactl_sagas_total{saga="order-fulfilment",outcome="started"} 2)",
                               R"(sagactl_sagas_total{saga="order-fulfilment",outcome="completed"} 1)",
                               R"(sagactl_sagas_total{saga="order-fulfilment",outcome="compensated"} 1)",
                               R"(sagactl_steps_total{saga="order-fulfilment",step="charge-card",outcome="failed"} 1)",
                               R"(sagactl_steps_total{saga="order-fulfilment",step="reserve-stock",outcome="compensated"} 1)",
                               R"(sagactl_step_duration_seconds_count{saga="order-fulfilment"} 8)",
                               "sagactl_active_sagas 0", "sagactl_dead_letters_total 0", "sagactl_ready 1",
                               "sagactl_store_read_failures_total 0"}) {
    EXPECT_NE(m->body.find(expected), std::string::npos) << expected << "\n" << m->body;
  }
}

TEST_F(Operator, ConfigProblemsAreReportedWithTheirPositionAndNothingStarts) {
  std::ofstream(config_) << "sagas: ./sagas\nkafak:\n  brokers: embedded\nlog: {level: loud}\nretention: soon\n";
  auto r = run_process({kBin, "run", "--config", config_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, config_ + ":2:1: error: unknown key \"kafak\" (did you mean \"kafka\"?)\n" + config_ +
                       ":4:14: error: log.level must be trace, debug, info, warn, error or off, got \"loud\"\n" +
                       config_ + ":5:12: error: retention \"soon\" is not a duration: use a number with ms, s, m, h or "
                                 "d, e.g. 500ms, 10s, 2m, 1h, 7d (or 0 to keep everything)\n"
                                 "run: fix the configuration above and try again\n");
  // Problems only the values show are reported before the broker, the state file or the
  // admin endpoint is touched: nothing is printed on stdout, no state file appears.
  fs::create_directories(dir_ / "sagas");
  for (const auto& [flags, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--brokers", "embeded"}, "kafka.brokers \"embeded\" is not HOST:PORT (did you mean \"embedded\"?)"},
           {{"--property", "fetch.wait.max.ms=soon"}, "kafka.properties: Invalid value"},
           {{"--admin", "127.0.0.1:70000"}, "the port must be a number from 0 to 65535"}}) {
    std::vector<std::string> argv = {kBin, "run", "--sagas", kExamples, "--state", (dir_ / "never.db").string(),
                                     "--embedded-port", "0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto bad = run_process(argv);
    EXPECT_EQ(bad.exit_code, 1) << flags[0];
    EXPECT_EQ(bad.out, "") << flags[0];
    EXPECT_NE(bad.err.find(message), std::string::npos) << bad.err;
    EXPECT_FALSE(fs::exists(dir_ / "never.db")) << flags[0];
  }
  auto missing = run_process({kBin, "status", "x", "--config", "/nonexistent.yaml"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent.yaml: error: no such config file"), std::string::npos) << missing.err;
}

TEST_F(Operator, EnvironmentVariablesOverrideTheFileAndFlagsOverrideBoth) {
  auto env = run_process({"/usr/bin/env", "SAGACTL_STATE=/nonexistent/from-env.db", kBin, "list", "--config", config_});
  EXPECT_EQ(env.err, "list: no state file at /nonexistent/from-env.db: point --state at the orchestrator's file\n");
  auto flag = run_process({"/usr/bin/env", "SAGACTL_STATE=/nonexistent/from-env.db", kBin, "list", "--config", config_,
                           "--state", "/nonexistent/from-flag.db"});
  EXPECT_EQ(flag.err, "list: no state file at /nonexistent/from-flag.db: point --state at the orchestrator's file\n");
  auto bad = run_process({"/usr/bin/env", "SAGACTL_LOG_LEVEL=loud", kBin, "list", "--config", config_});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("$SAGACTL_LOG_LEVEL: error: SAGACTL_LOG_LEVEL must be trace"), std::string::npos) << bad.err;
}

TEST_F(Operator, AnOrchestratorThatIsNotRunningIsReportedClearly) {
  auto r = run_process({kBin, "start", "order-fulfilment", "--config", config_, "--admin", "127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("start: cannot reach the orchestrator at 127.0.0.1:1"), std::string::npos) << r.err;
}

TEST(Help, EveryCommandHasCompleteHelpAndBashCompletion) {
  for (const char* cmd : {"validate", "graph", "run", "start", "status", "list", "history", "compensate", "dev-broker"}) {
    auto r = run_process({kBin, cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
  auto top = run_process({kBin, "--help"});
  for (const char* cmd : {"validate", "graph", "run", "start", "status", "list", "history", "compensate", "dev-broker"}) {
    EXPECT_NE(top.out.find(cmd), std::string::npos) << cmd;
  }
  auto completion = run_process({kBin, "completion", "bash"});
  EXPECT_EQ(completion.exit_code, 0);
  EXPECT_NE(completion.out.find("complete -F _sagactl sagactl"), std::string::npos);
  auto syntax = run_process({"/bin/bash", "-n", "-c", completion.out});
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;
}

}  // namespace
