// The JSON shapes of docs/sagactl.md, shared by `sagactl status|list|history --json` and the admin
// API, so the file and the live orchestrator answer alike.
#pragma once

#include "engine/engine.h"
#include "sagas/json.h"

namespace server {

// {"id", "saga", "version", "state", "created_at", "updated_at", "error"}
sagas::Json summary_json(const engine::SagaStatus& s);
// The summary plus "input", "output" (a completed saga's step replies by step name, else
// null) and "steps": [{"name", "group"?, "state", "attempts", "compensation_attempts",
// "started_at", "finished_at", "error", "request", "reply"}] (request and reply null until known)
sagas::Json status_json(const engine::SagaStatus& s);
// A saga row that cannot be read, shown among the others: {"id", "state": "unreadable", "error"}
sagas::Json unreadable_json(const state::BrokenRow& b);
// `sagactl list --json` and GET /v1/sagas: readable sagas' summaries, then the unreadable rows.
sagas::Json list_json(const engine::SagaList& list);
// {"at", "event", "step", "detail"}
sagas::Json history_json(const state::HistoryRow& h);
// RFC 3339, or null for an unset time.
sagas::Json time_json(sagas::TimeMs t);

}  // namespace server
