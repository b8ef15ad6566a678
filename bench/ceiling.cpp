// The ceiling: what raw librdkafka and raw SQLite reach on this machine, with none of the
// engine. A client keeps `concurrency` requests in flight to an echo thread; each reply is
// upserted into SQLite (the rows really change: SQLite skips byte-identical rewrites), the
// replies that arrived together share one transaction (synchronous=FULL), and only after the
// commit are their offsets committed and the next requests sent. That is the least work a
// durable orchestrator step can be: one round trip and one checkpoint.
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/measure.h"
#include "bench/scenarios.h"
#include "kafka/dev_broker.h"
#include "bench/raw_kafka.h"
#include "kafka/handles.h"
#include "state/sqlite_handles.h"

namespace bench {

namespace {


constexpr const char* kRequests = "bench.requests";
constexpr const char* kReplies = "bench.replies";

using raw::check;
using raw::commit_offsets;
using raw::consume;
using raw::producer;
using raw::warm;

// The participant: replies to every request with its value, the same key and an in-reply-to.
void echo(const std::string& brokers, const Settings& s, const std::atomic<bool>& stop) {
  std::atomic<long> delivered{0};
  auto in = raw::consumer(brokers, "bench.echo", {kRequests}, s.fetch_wait_ms, s.partitions);
  auto out = producer(brokers, &delivered);
  warm(out.get(), kReplies);
  while (!stop) {
    auto batch = consume(in.get(), 10, 1000);
    for (const auto& m : batch) {
      rd_kafka_headers_t* h = rd_kafka_headers_new(2);
      rd_kafka_header_add(h, "in-reply-to", -1, m->key, static_cast<ssize_t>(m->key_len));
      rd_kafka_header_add(h, "outcome", -1, "success", -1);
      raw::produce(out.get(), kReplies, RD_KAFKA_PARTITION_UA, m->key, m->key_len, m->payload, m->len, h);
    }
    commit_offsets(in.get(), batch);
    rd_kafka_poll(out.get(), 0);
  }
  rd_kafka_flush(out.get(), 2000);
}

struct Db {
  state::sqlite::DbPtr db;
  state::sqlite::StmtPtr upsert;

  explicit Db(const std::string& path) {
    sqlite3* raw = nullptr;
    if (sqlite3_open(path.c_str(), &raw) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
    db.reset(raw);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE steps (saga TEXT PRIMARY KEY, step INTEGER NOT NULL, data TEXT NOT NULL)");
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db.get(),
                       "INSERT INTO steps (saga, step, data) VALUES (?, ?, ?) ON CONFLICT (saga) DO UPDATE SET "
                       "step = excluded.step, data = excluded.data",
                       -1, &st, nullptr);
    upsert.reset(st);
  }
  void exec(const char* sql) {
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string(sql) + ": " + sqlite3_errmsg(db.get()));
    }
  }
  void put(long request, const void* value, std::size_t len) {
    std::string saga = "saga-" + std::to_string(request / kStepsPerSaga);
    sqlite3_reset(upsert.get());
    sqlite3_bind_text(upsert.get(), 1, saga.data(), static_cast<int>(saga.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(upsert.get(), 2, request % kStepsPerSaga);
    sqlite3_bind_text(upsert.get(), 3, static_cast<const char*>(value), static_cast<int>(len), SQLITE_TRANSIENT);
    if (sqlite3_step(upsert.get()) != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db.get()));
  }
};

// Round trips in flight: sent requests by id, and how long each took to come back.
struct RoundTrips {
  explicit RoundTrips(int concurrency) {
    // Send times by request id modulo a ring larger than what can be in flight.
    std::size_t ring = 1024;
    while (ring < static_cast<std::size_t>(concurrency) * 2) ring *= 2;
    sent_at.resize(ring);
  }
  Clock::time_point& at(long id) { return sent_at[static_cast<std::size_t>(id) % sent_at.size()]; }

  std::vector<Clock::time_point> sent_at;
  long sent = 0, done = 0, commits = 0;
  Histogram latency;
};

// The replies of one poll: made durable in one transaction (when `db`), their latencies noted
// past the warm-up, their offsets committed.
void take_replies(const std::vector<kafka::MessagePtr>& batch, Db* db, long warmup, RoundTrips& t, rd_kafka_t* in) {
  std::vector<long> ids;
  ids.reserve(batch.size());
  for (const auto& m : batch) ids.push_back(std::stol(std::string(static_cast<const char*>(m->key), m->key_len)));
  if (db != nullptr) {
    db->exec("BEGIN");
    for (std::size_t i = 0; i < batch.size(); ++i) db->put(ids[i], batch[i]->payload, batch[i]->len);
    db->exec("COMMIT");
    ++t.commits;
  }
  auto now = Clock::now();
  for (long id : ids) {
    if (id >= warmup) t.latency.add(std::chrono::duration<double, std::micro>(now - t.at(id)).count());
    ++t.done;
  }
  commit_offsets(in, batch);
}

sagas::Json ceiling_figures(const Settings& s, const RoundTrips& t, long warmup, double seconds, double cpu) {
  auto steps = static_cast<double>(t.done - warmup);
  sagas::Json j = sagas::Json::object();
  j.set("steps", sagas::Json(static_cast<std::int64_t>(t.done - warmup)));
  j.set("concurrency", sagas::Json(s.concurrency));
  j.set("seconds", sagas::Json(seconds));
  j.set("steps_per_s", sagas::Json(steps / seconds));
  j.set("step_latency", t.latency.to_json());
  j.set("cpu_s_per_1000_steps", sagas::Json(cpu / steps * 1000));
  j.set("commits", sagas::Json(static_cast<std::int64_t>(t.commits)));
  j.set("peak_rss_mib", sagas::Json(peak_rss_mib()));
  return j;
}

}  // namespace

sagas::Json run_ceiling(const Settings& s, bool durable) {
  auto broker = kafka::DevBroker::start(1);
  if (!broker) throw std::runtime_error(broker.error());
  check((*broker)->create_topic(kRequests, s.partitions));
  check((*broker)->create_topic(kReplies, s.partitions));
  const std::string brokers = (*broker)->bootstrap();

  std::atomic<bool> stop{false};
  std::thread participant([&] { echo(brokers, s, stop); });
  std::atomic<long> delivered{0};
  auto out = producer(brokers, &delivered);
  warm(out.get(), kRequests);
  auto in = raw::consumer(brokers, "bench.client", {kReplies}, s.fetch_wait_ms, s.partitions);
  Db db(s.dir + "/ceiling.db");

  // A request's value: about the size of a rendered command payload.
  const std::string body =
      R"({"orderId":"o-000000","amount":42.5,"items":[{"sku":"sku-1","qty":1}],"note":"order o-000000 charged"})";
  // The ceiling is fast: it runs at least s.ceiling_seconds (more round trips than asked if
  // need be), so its figure is a rate over a steady window, not a start-up burst.
  const long warmup = static_cast<long>(s.warmup) * kStepsPerSaga;
  const long asked = static_cast<long>(s.sagas) * kStepsPerSaga;
  RoundTrips t(s.concurrency);
  Clock::time_point began = Clock::now();
  double cpu_began = process_cpu_seconds();
  bool measuring = false;
  auto more = [&] { return t.done < warmup + asked || !measuring || seconds_since(began) < s.ceiling_seconds; };

  auto send = [&](long id) {
    std::string key = std::to_string(id);
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "reply-to", -1, kReplies, -1);
    t.at(id) = Clock::now();
    raw::produce(out.get(), kRequests, RD_KAFKA_PARTITION_UA, key.data(), key.size(), body.data(), body.size(), h);
  };
  bool sending = true;
  while (t.done < t.sent || sending) {
    if (!measuring && t.done == warmup) {
      measuring = true;
      began = Clock::now();
      cpu_began = process_cpu_seconds();
    }
    // Warm-up drains completely before the measured part starts.
    sending = more();
    long limit = t.done < warmup ? warmup : t.sent + s.concurrency;
    while (sending && t.sent - t.done < s.concurrency && t.sent < limit) send(t.sent++);
    rd_kafka_poll(out.get(), 0);
    auto batch = consume(in.get(), 1, 512);
    if (!batch.empty()) take_replies(batch, durable ? &db : nullptr, warmup, t, in.get());
  }
  double seconds = seconds_since(began);
  double cpu = process_cpu_seconds() - cpu_began;
  stop = true;
  participant.join();
  return ceiling_figures(s, t, warmup, seconds, cpu);
}

}  // namespace bench
