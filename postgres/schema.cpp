#include "postgres/schema.h"

#include <iterator>

#include "postgres/store.h"

namespace postgres::schema {

// The tables; they say version 1, and a fresh database then runs every migration below.
// The result (schema 2): as the SQLite store's schema 3 (its comments there), with: ids in byte order
// (COLLATE "C": lists, cursors and prefixes sort as in SQLite, and LIKE 'prefix%' is a range
// on the index), `journal.snapshot` marking the entries a read starts from, and the owner's
// epoch in `journal_state`.
//
// Made for the commit's cost: a transition updates its saga's row (state, updated_at,
// error), so no index names updated_at (the update stays a heap-only tuple on a page with
// room, fillfactor 80), and the counts are kept per statement from its transition tables (one
// count row updated per name, version and state a commit touched, not once per saga: many
// versions of one row in one transaction make each further update slower).
const char* const kCreate = R"sql(
CREATE TABLE sagactl_schema (version integer NOT NULL);
CREATE TABLE sagas (
  num bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text COLLATE "C" NOT NULL UNIQUE,
  saga text NOT NULL,
  version integer NOT NULL,
  state text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  error text NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX sagas_by_created ON sagas (created_at DESC, id);
CREATE INDEX sagas_by_state_created ON sagas (state, created_at DESC, id);
CREATE TABLE saga_counts (
  saga text NOT NULL,
  version integer NOT NULL,
  state text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (saga, version, state)
);
CREATE TABLE journal (
  saga_num bigint NOT NULL,
  position bigint NOT NULL,
  at bigint NOT NULL,
  snapshot boolean NOT NULL,
  data text NOT NULL,
  PRIMARY KEY (saga_num, position)
);
CREATE INDEX journal_by_position ON journal (position);
CREATE TABLE journal_state (
  last bigint NOT NULL,
  delivered bigint NOT NULL,
  epoch bigint NOT NULL,
  owner text NOT NULL
);
INSERT INTO journal_state VALUES (0, 0, 0, '');
CREATE TABLE pruned (
  saga_id text COLLATE "C" PRIMARY KEY,
  at bigint NOT NULL
);
INSERT INTO sagactl_schema VALUES (1);
)sql";

namespace {

// Each step takes the schema from the version before it to its own (the array's index + 2),
// in the migration's transaction.
const char* const kMigrations[] = {
    // 2: counts per statement, no index on updated_at, room for heap-only updates, and the
    // fenced move of the position a pipelined commit starts with.
    R"sql(
DROP TRIGGER IF EXISTS saga_counted ON sagas;
DROP TRIGGER IF EXISTS saga_count_moved ON sagas;
DROP FUNCTION IF EXISTS sagactl_count();
DROP INDEX IF EXISTS sagas_by_state;
ALTER TABLE sagas SET (fillfactor = 80);
-- A statement's rows added to and taken from the counts of their name, version and state:
-- an update's rows whose state did not move cancel out.
CREATE OR REPLACE FUNCTION sagactl_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO saga_counts (saga, version, state, n)
      SELECT saga, version, state, count(*) FROM new_rows GROUP BY saga, version, state
      ON CONFLICT (saga, version, state) DO UPDATE SET n = saga_counts.n + excluded.n;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE saga_counts c SET n = c.n - d.k
      FROM (SELECT saga, version, state, count(*) AS k FROM old_rows GROUP BY saga, version, state) d
      WHERE c.saga = d.saga AND c.version = d.version AND c.state = d.state;
  ELSE
    INSERT INTO saga_counts (saga, version, state, n)
      SELECT saga, version, state, sum(k) FROM (
        SELECT saga, version, state, -1 AS k FROM old_rows
        UNION ALL SELECT saga, version, state, 1 FROM new_rows) d
      GROUP BY saga, version, state HAVING sum(k) <> 0
      ON CONFLICT (saga, version, state) DO UPDATE SET n = saga_counts.n + excluded.n;
  END IF;
  RETURN NULL;
END $$;
-- Moves the journal's position in the commit's own transaction, if the epoch is still the
-- owner's; otherwise fails (SQLSTATE SG001), so nothing of that commit lands.
CREATE OR REPLACE FUNCTION sagactl_advance(new_last bigint, new_delivered bigint, owner_epoch bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE journal_state SET last = new_last, delivered = new_delivered WHERE epoch = owner_epoch;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the journal is no longer epoch %''s', owner_epoch USING ERRCODE = 'SG001';
  END IF;
END $$;
CREATE TRIGGER sagas_inserted AFTER INSERT ON sagas REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sagactl_count();
CREATE TRIGGER sagas_updated AFTER UPDATE ON sagas REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sagactl_count();
CREATE TRIGGER sagas_deleted AFTER DELETE ON sagas REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sagactl_count();
UPDATE sagactl_schema SET version = 2;
)sql",
};
static_assert(std::size(kMigrations) + 1 == PostgresStore::kSchemaVersion);

}  // namespace

std::span<const char* const> migrations() { return kMigrations; }

}  // namespace postgres::schema
