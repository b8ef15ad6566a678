#include "state/sqlite_migrations.h"

#include <functional>
#include <string>

#include "state/codec.h"
#include "state/journal_codec.h"

namespace state::sqlite {

namespace {

using sagas::Json;

const char* const kSchema1 = R"sql(
CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  saga TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  error TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX instances_by_state ON instances (state, updated_at);
CREATE INDEX instances_by_created ON instances (created_at);
CREATE TABLE steps (
  saga_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (saga_id, idx)
) WITHOUT ROWID;
CREATE TABLE history (
  id INTEGER PRIMARY KEY,
  saga_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  step TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX history_by_saga ON history (saga_id, id);
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  saga_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  key TEXT NOT NULL,
  headers TEXT NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX outbox_by_saga ON outbox (saga_id);
CREATE TABLE processed_replies (
  message_id TEXT PRIMARY KEY,
  saga_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX processed_by_saga ON processed_replies (saga_id);
)sql";

const char* const kSchema2 = R"sql(
CREATE TABLE pruned (
  saga_id TEXT PRIMARY KEY,
  at INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// A saga is its journal; `sagas` is its summary (state, error, times: what lists show and
// recovery and retention search by, rewritten in place with each transition), and it gives
// each saga a number: the journal is keyed by (saga number, position), a few bytes where the
// id would take 36 on every entry and again in every index entry. Numbers follow creation
// (rowids), so the sagas in flight append at the right edge. journal_by_position finds what
// follows the delivered watermark. Dead letters are entries of saga number 0.
// saga_counts holds how many sagas of each definition version are in each state, kept by
// triggers in the transaction that changes a summary row, so a console's counts cost a few
// rows, not a scan of every saga (80 ms at 100k). sagas_by_state_created serves a list of one
// state, newest first, without sorting every saga in that state.
const char* const kSchema3 = R"sql(
CREATE TABLE sagas (
  num INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  saga TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  error TEXT NOT NULL
);
CREATE INDEX sagas_by_state ON sagas (state, updated_at);
CREATE INDEX sagas_by_created ON sagas (created_at);
CREATE INDEX sagas_by_state_created ON sagas (state, created_at);
CREATE TABLE saga_counts (
  saga TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (saga, version, state)
) WITHOUT ROWID;
CREATE TRIGGER saga_counted AFTER INSERT ON sagas BEGIN
  INSERT INTO saga_counts VALUES (NEW.saga, NEW.version, NEW.state, 1)
    ON CONFLICT (saga, version, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER saga_count_moved AFTER UPDATE OF state ON sagas WHEN OLD.state <> NEW.state BEGIN
  UPDATE saga_counts SET n = n - 1 WHERE saga = OLD.saga AND version = OLD.version AND state = OLD.state;
  INSERT INTO saga_counts VALUES (NEW.saga, NEW.version, NEW.state, 1)
    ON CONFLICT (saga, version, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER saga_uncounted AFTER DELETE ON sagas BEGIN
  UPDATE saga_counts SET n = n - 1 WHERE saga = OLD.saga AND version = OLD.version AND state = OLD.state;
END;
CREATE TABLE journal (
  saga_num INTEGER NOT NULL,
  position INTEGER NOT NULL,
  at INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (saga_num, position)
) WITHOUT ROWID;
CREATE INDEX journal_by_position ON journal (position);
CREATE TABLE journal_state (
  last INTEGER NOT NULL,
  delivered INTEGER NOT NULL
);
INSERT INTO journal_state VALUES (0, 0);
)sql";

// Schema 2's instance, as its two tables held it; an error says what is damaged.
sagas::Result<sagas::Instance> read_v2_instance(Conn& c, const std::string& id, const std::string& text) {
  auto data = Json::parse(text);
  if (!data || !data->is_object()) return sagas::Error{"its instance row is not a JSON object"};
  sqlite::Query st = c.stmt("SELECT data FROM steps WHERE saga_id = ? ORDER BY idx");
  bind_arg(st, 1, id);
  Json steps = Json::array();
  while (sqlite3_step(st) == SQLITE_ROW) {
    auto sj = Json::parse(col_text(st, 0));
    if (!sj) return sagas::Error{"a step row is not JSON (" + sj.error().message + ")"};
    steps.as_array().push_back(std::move(sj).value());
  }
  data->set("steps", std::move(steps));
  auto inst = instance_from_json(*data);
  if (!inst) return inst.error();
  return std::move(inst).value();
}

// A saga's row of schema 2.
struct V2Row {
  std::string id, saga, state, data, error;
  std::int64_t version, created_at, updated_at;
};

// Every saga of schema 2, read before the conversion (which reuses statements).
std::vector<V2Row> read_v2_rows(Conn& c) {
  sqlite::Query rows =
      c.stmt("SELECT id, saga, version, state, created_at, updated_at, data, error FROM instances ORDER BY created_at, id");
  std::vector<V2Row> all;
  while (sqlite3_step(rows) == SQLITE_ROW) {
    all.push_back({col_text(rows, 0), col_text(rows, 1), col_text(rows, 3), col_text(rows, 6), col_text(rows, 7),
                   sqlite3_column_int64(rows, 2), sqlite3_column_int64(rows, 4), sqlite3_column_int64(rows, 5)});
  }
  return all;
}

// The saga's one journal entry: a snapshot with its whole history, or its row verbatim,
// marked damaged, when it cannot be read.
std::string v2_entry(Conn& c, const V2Row& r) {
  auto inst = read_v2_instance(c, r.id, r.data);
  if (!inst) {
    Json damaged = Json::object();
    damaged.set("damaged", "before the upgrade to schema 3: " + inst.error().message);
    damaged.set("row", r.data);
    return damaged.dump();
  }
  Commit entry;
  entry.instance = std::move(inst).value();
  sqlite::Query h = c.stmt("SELECT at, event, step, detail FROM history WHERE saga_id = ? ORDER BY id");
  bind_arg(h, 1, r.id);
  while (sqlite3_step(h) == SQLITE_ROW) {
    auto event = sagas::event_type_from(col_text(h, 1));
    if (!event) continue;  // schema 2 never wrote unknown events; nothing to carry
    entry.history.push_back({sqlite3_column_int64(h, 0), *event, col_text(h, 2), col_text(h, 3)});
  }
  journal::Written written;
  return journal::encode_snapshot(entry, written);
}

// The messages schema 2's outbox still held.
std::vector<OutboxMessage> read_v2_outbox(Conn& c) {
  sqlite::Query out = c.stmt("SELECT topic, key, headers, value FROM outbox ORDER BY id");
  std::vector<OutboxMessage> unsent;
  while (sqlite3_step(out) == SQLITE_ROW) {
    OutboxMessage m{col_text(out, 0), col_text(out, 1), {}, col_text(out, 3)};
    auto headers = Json::parse(col_text(out, 2));
    if (headers && headers->is_array()) {
      for (const auto& p : headers->as_array()) {
        if (p.is_array() && p.as_array().size() == 2 && p.as_array()[0].is_string() && p.as_array()[1].is_string()) {
          m.headers.emplace_back(p.as_array()[0].as_string(), p.as_array()[1].as_string());
        }
      }
    }
    unsent.push_back(std::move(m));
  }
  return unsent;
}

// Appends journal entries at the next positions.
struct JournalAppender {
  Conn& c;
  Position pos = 0;
  bool append(std::int64_t saga_num, TimeMs at, const std::string& data) {
    sqlite::Query ins = c.stmt("INSERT INTO journal (saga_num, position, at, data) VALUES (?, ?, ?, ?)");
    bind_arg(ins, 1, saga_num);
    bind_arg(ins, 2, ++pos);
    bind_arg(ins, 3, at);
    bind_arg(ins, 4, data);
    return sqlite3_step(ins) == SQLITE_DONE;
  }
};

// Schema 2 -> 3: each saga becomes one snapshot entry holding its whole history; messages
// still in the outbox become entries after the delivered watermark, so the first start sends
// them as the old release would have. A saga whose rows cannot be read keeps them verbatim,
// marked damaged: it stays visible (and unreadable) instead of vanishing in the upgrade.
Status convert_v2(Conn& c) {
  JournalAppender entries{c};
  for (const auto& r : read_v2_rows(c)) {
    sqlite::Query idx =
        c.stmt("INSERT INTO sagas (id, saga, version, state, created_at, updated_at, error) VALUES (?, ?, ?, ?, ?, ?, ?)");
    bind_arg(idx, 1, r.id);
    bind_arg(idx, 2, r.saga);
    bind_arg(idx, 3, r.version);
    bind_arg(idx, 4, r.state);
    bind_arg(idx, 5, r.created_at);
    bind_arg(idx, 6, r.updated_at);
    bind_arg(idx, 7, r.error);
    if (sqlite3_step(idx) != SQLITE_DONE) return c.fail("cannot convert saga " + r.id);
    std::int64_t num = sqlite3_last_insert_rowid(c.db());
    if (!entries.append(num, r.updated_at, v2_entry(c, r))) return c.fail("cannot convert saga " + r.id);
  }
  Position delivered = entries.pos;
  for (auto& m : read_v2_outbox(c)) {
    Commit entry;
    entry.messages_only = true;
    entry.messages.push_back(std::move(m));
    if (!entries.append(0, 0, journal::encode_messages(entry))) return c.fail("cannot convert the outbox");
  }
  sqlite::Query st = c.stmt("UPDATE journal_state SET last = ?, delivered = ?");
  bind_arg(st, 1, entries.pos);
  bind_arg(st, 2, delivered);
  if (sqlite3_step(st) != SQLITE_DONE) return c.fail("cannot convert the outbox");
  if (!c.exec("DROP TABLE processed_replies; DROP TABLE outbox; DROP TABLE history; DROP TABLE steps; "
              "DROP TABLE instances;")) {
    return c.fail("cannot drop the tables of schema 2");
  }
  return Status::success();
}

// Schema 4: no index on (state, updated_at). Every transition moves updated_at, so that index
// took a delete and an insert per transition, for one query (prune), which the index on
// (state, created_at) serves as well: a saga is created before it is last updated.
const char* const kSchema4 = R"sql(
DROP INDEX sagas_by_state;
)sql";

struct Step {
  const char* sql;
  std::function<Status(Conn&)> convert;  // after the SQL, in the same transaction
};

const Step kSteps[] = {
    {kSchema1, {}},
    {kSchema2, {}},
    {kSchema3, convert_v2},
    {kSchema4, {}},
};
static_assert(sizeof kSteps / sizeof kSteps[0] == kSchemaVersion);

}  // namespace

sagas::Result<std::int64_t, Status> schema_version(Conn& c) {
  sqlite::Query s = c.stmt("SELECT version FROM schema_version");
  if (s == nullptr) {
    // No such table: a database sagactl never wrote. Anything else is a file that is no database.
    if (sqlite3_errcode(c.db()) == SQLITE_NOTADB) return Status{Errc::corrupt, "is not a SQLite database"};
    return std::int64_t{0};
  }
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return sqlite3_column_int64(s, 0);
  if (rc == SQLITE_DONE) return std::int64_t{0};
  return c.fail("cannot read the schema version");
}

Status migrate(Conn& c) {
  if (!c.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")) {
    return c.fail("cannot read the schema version (is this a sagactl state file?)");
  }
  auto version = schema_version(c);
  if (!version) return version.error();
  if (*version > kSchemaVersion) {
    return {Errc::corrupt, c.path() + " was written by a newer sagactl (schema " + std::to_string(*version) +
                               ", this one knows " + std::to_string(kSchemaVersion) + "); upgrade sagactl"};
  }
  for (std::int64_t v = *version; v < kSchemaVersion; ++v) {
    const Step& step = kSteps[v];
    Status st = c.transaction([&]() -> Status {
      if (!c.exec(step.sql)) return c.fail("cannot migrate to schema " + std::to_string(v + 1));
      if (step.convert) {
        if (Status converted = step.convert(c); !converted.ok()) return converted;
      }
      std::string set = v == 0 ? "INSERT INTO schema_version VALUES (1)"
                               : "UPDATE schema_version SET version = " + std::to_string(v + 1);
      if (!c.exec(set.c_str())) return c.fail("cannot migrate to schema " + std::to_string(v + 1));
      return Status::success();
    });
    if (!st.ok()) return st;
  }
  return Status::success();
}

}  // namespace state::sqlite
