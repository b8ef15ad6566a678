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
#include "runtime/dev_broker.h"
#include "runtime/kafka_handles.h"
#include "state/sqlite_handles.h"

namespace bench {

namespace {

namespace kafka = saga::kafka;

constexpr const char* kRequests = "bench.requests";
constexpr const char* kReplies = "bench.replies";

void check(std::optional<std::string> err) {
  if (err) throw std::runtime_error(*err);
}

// librdkafka settings as the engine's transport uses them (runtime/kafka.cpp).
kafka::HandlePtr producer(const std::string& brokers, std::atomic<long>* delivered) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  for (auto [k, v] : {std::pair{"bootstrap.servers", brokers}, {"enable.idempotence", "true"}, {"acks", "all"},
                      {"linger.ms", "1"}}) {
    check(kafka::set(conf.get(), k, v));
  }
  rd_kafka_conf_set_opaque(conf.get(), delivered);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err) {  // no exceptions through librdkafka's C frames; the figures would be wrong anyway
      std::fprintf(stderr, "saga-bench: delivery failed: %s\n", rd_kafka_err2str(m->err));
      std::abort();
    }
    ++*static_cast<std::atomic<long>*>(opaque);
  });
  auto h = kafka::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
  if (!h) throw std::runtime_error(h.error());
  return std::move(*h);
}

kafka::HandlePtr consumer(const std::string& brokers, const std::string& group, const std::string& topic,
                          int fetch_wait_ms, int partitions) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  for (auto [k, v] : {std::pair{"bootstrap.servers", brokers}, {"group.id", group}, {"enable.auto.commit", "false"},
                      {"enable.auto.offset.store", "false"}, {"auto.offset.reset", "earliest"},
                      {"fetch.wait.max.ms", std::to_string(fetch_wait_ms)}}) {
    check(kafka::set(conf.get(), k, v));
  }
  auto h = kafka::make_handle(RD_KAFKA_CONSUMER, std::move(conf));
  if (!h) throw std::runtime_error(h.error());
  rd_kafka_poll_set_consumer(h->get());
  kafka::ListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  if (auto err = rd_kafka_assign(h->get(), list.get())) throw std::runtime_error(rd_kafka_err2str(err));
  return std::move(*h);
}

// Metadata up front, so the first message does not wait for a topic scan (measured: ~1 s).
void warm(rd_kafka_t* rk, const char* topic) {
  kafka::TopicPtr t(rd_kafka_topic_new(rk, topic, nullptr));
  const struct rd_kafka_metadata* md = nullptr;
  if (rd_kafka_metadata(rk, 0, t.get(), &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) kafka::MetadataPtr owned(md);
}

void produce(rd_kafka_t* rk, const char* topic, const void* key, std::size_t key_len, const std::string& value,
             rd_kafka_headers_t* headers) {
  rd_kafka_vu_t vus[5];
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = topic;
  vus[1].vtype = RD_KAFKA_VTYPE_KEY;
  vus[1].u.mem = {const_cast<void*>(key), key_len};
  vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[2].u.mem = {const_cast<char*>(value.data()), value.size()};
  vus[3].vtype = RD_KAFKA_VTYPE_HEADERS;
  vus[3].u.headers = headers;
  vus[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[4].u.i = RD_KAFKA_MSG_F_COPY;
  while (rd_kafka_error_t* e = rd_kafka_produceva(rk, vus, 5)) {
    bool full = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
    std::string text = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    if (!full) {
      rd_kafka_headers_destroy(headers);
      throw std::runtime_error("produce: " + text);
    }
    rd_kafka_poll(rk, 1);
  }
}

// Up to `max` messages: waits up to `wait_ms` for the first, then takes what is there.
std::vector<kafka::MessagePtr> consume(rd_kafka_t* rk, int wait_ms, std::size_t max) {
  std::vector<kafka::MessagePtr> out;
  for (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, wait_ms); m != nullptr;
       m = out.size() < max ? rd_kafka_consumer_poll(rk, 0) : nullptr) {
    kafka::MessagePtr owned(m);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) out.push_back(std::move(owned));
  }
  return out;
}

void commit_offsets(rd_kafka_t* rk, const std::vector<kafka::MessagePtr>& batch) {
  if (batch.empty()) return;
  const rd_kafka_message_t* last = batch.back().get();
  kafka::ListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), rd_kafka_topic_name(last->rkt), last->partition)->offset =
      last->offset + 1;
  rd_kafka_commit(rk, list.get(), 1);
}

// The participant: replies to every request with its value, the same key and an in-reply-to.
void echo(const std::string& brokers, const Settings& s, const std::atomic<bool>& stop) {
  std::atomic<long> delivered{0};
  auto in = consumer(brokers, "bench.echo", kRequests, s.fetch_wait_ms, s.partitions);
  auto out = producer(brokers, &delivered);
  warm(out.get(), kReplies);
  while (!stop) {
    auto batch = consume(in.get(), 10, 1000);
    for (const auto& m : batch) {
      rd_kafka_headers_t* h = rd_kafka_headers_new(2);
      rd_kafka_header_add(h, "in-reply-to", -1, m->key, static_cast<ssize_t>(m->key_len));
      rd_kafka_header_add(h, "outcome", -1, "success", -1);
      produce(out.get(), kReplies, m->key, m->key_len,
              std::string(static_cast<const char*>(m->payload), m->len), h);
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

}  // namespace

sagas::Json run_ceiling(const Settings& s, bool durable) {
  auto broker = saga::DevBroker::start(1);
  if (!broker) throw std::runtime_error(broker.error());
  check((*broker)->create_topic(kRequests, s.partitions));
  check((*broker)->create_topic(kReplies, s.partitions));
  const std::string brokers = (*broker)->bootstrap();

  std::atomic<bool> stop{false};
  std::thread participant([&] { echo(brokers, s, stop); });
  std::atomic<long> delivered{0};
  auto out = producer(brokers, &delivered);
  warm(out.get(), kRequests);
  auto in = consumer(brokers, "bench.client", kReplies, s.fetch_wait_ms, s.partitions);
  Db db(s.dir + "/ceiling.db");

  // A request's value: about the size of a rendered command payload.
  const std::string body =
      R"({"orderId":"o-000000","amount":42.5,"items":[{"sku":"sku-1","qty":1}],"note":"order o-000000 charged"})";
  // The ceiling is fast: it runs at least s.ceiling_seconds (more round trips than asked if
  // need be), so its figure is a rate over a steady window, not a start-up burst.
  const long warmup = static_cast<long>(s.warmup) * kStepsPerSaga;
  const long asked = static_cast<long>(s.sagas) * kStepsPerSaga;
  // Send times by request id modulo a ring larger than what can be in flight.
  std::size_t ring = 1024;
  while (ring < static_cast<std::size_t>(s.concurrency) * 2) ring *= 2;
  std::vector<Clock::time_point> sent_at(ring);
  long sent = 0, done = 0, commits = 0;
  Histogram latency;
  Clock::time_point began = Clock::now();
  double cpu_began = process_cpu_seconds();
  bool measuring = false;
  auto more = [&] { return done < warmup + asked || !measuring || seconds_since(began) < s.ceiling_seconds; };

  auto send = [&](long id) {
    std::string key = std::to_string(id);
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "reply-to", -1, kReplies, -1);
    sent_at[static_cast<std::size_t>(id) % ring] = Clock::now();
    produce(out.get(), kRequests, key.data(), key.size(), body, h);
  };
  bool sending = true;
  while (done < sent || sending) {
    if (!measuring && done == warmup) {
      measuring = true;
      began = Clock::now();
      cpu_began = process_cpu_seconds();
    }
    // Warm-up drains completely before the measured part starts.
    sending = more();
    long limit = done < warmup ? warmup : sent + s.concurrency;
    while (sending && sent - done < s.concurrency && sent < limit) send(sent++);
    rd_kafka_poll(out.get(), 0);
    auto batch = consume(in.get(), 1, 512);
    if (batch.empty()) continue;
    std::vector<long> ids;
    ids.reserve(batch.size());
    for (const auto& m : batch) ids.push_back(std::stol(std::string(static_cast<const char*>(m->key), m->key_len)));
    if (durable) {
      db.exec("BEGIN");
      for (std::size_t i = 0; i < batch.size(); ++i) db.put(ids[i], batch[i]->payload, batch[i]->len);
      db.exec("COMMIT");
      ++commits;
    }
    auto now = Clock::now();
    for (long id : ids) {
      if (id >= warmup) {
        latency.add(std::chrono::duration<double, std::micro>(now - sent_at[static_cast<std::size_t>(id) % ring]).count());
      }
      ++done;
    }
    commit_offsets(in.get(), batch);
  }
  const long total = done;
  double seconds = seconds_since(began);
  double cpu = process_cpu_seconds() - cpu_began;
  stop = true;
  participant.join();

  auto steps = static_cast<double>(total - warmup);
  sagas::Json j = sagas::Json::object();
  j.set("steps", sagas::Json(static_cast<std::int64_t>(total - warmup)));
  j.set("concurrency", sagas::Json(s.concurrency));
  j.set("seconds", sagas::Json(seconds));
  j.set("steps_per_s", sagas::Json(steps / seconds));
  j.set("step_latency", latency.to_json());
  j.set("cpu_s_per_1000_steps", sagas::Json(cpu / steps * 1000));
  j.set("commits", sagas::Json(static_cast<std::int64_t>(commits)));
  j.set("peak_rss_mib", sagas::Json(peak_rss_mib()));
  return j;
}

}  // namespace bench
