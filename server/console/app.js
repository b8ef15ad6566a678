// sagactl console: a single page over the admin API (docs/sagactl.md, "Console").
// Routes: /sagas (the list; its filters live in the query string, so a view can be shared),
// /sagas/ID (one saga, followed live by long-polling its events), /definitions[/NAME].
// The admin token, when the endpoint asks for one, is kept in sessionStorage (this tab) and
// sent as `Authorization: Bearer`; `#token=...` in the address hands it over once.
"use strict";

const STATES = ["running", "completed", "compensating", "compensated", "failed"];
const LIST_POLL_MS = 1000;    // the list and its counts refresh this often
const EVENTS_WAIT_MS = 1000;  // a saga page's long poll: new transitions show at once
const PAGE_SIZE = 50;
const TOKEN_KEY = "sagactl-token";

// ---- the API ----

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let tokenWaiters = [];

async function api(path, options = {}) {
  for (;;) {
    const headers = Object.assign({}, options.headers || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
    if (r.status === 401) {
      await askToken(token ? "That token does not match the orchestrator's." : "");
      continue;
    }
    const type = r.headers.get("Content-Type") || "";
    const body = type.startsWith("application/json") ? await r.json() : await r.text();
    if (!r.ok) throw new ApiError(r.status, (body && body.error) || `${r.status} ${r.statusText}`);
    return body;
  }
}

function askToken(problem) {
  const dialog = document.getElementById("token-dialog");
  const error = document.getElementById("token-error");
  error.hidden = !problem;
  error.textContent = problem;
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

function setupTokenDialog() {
  const form = document.getElementById("token-form");
  form.addEventListener("submit", () => {
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token-input").value.trim());
    const waiting = tokenWaiters;
    tokenWaiters = [];
    waiting.forEach((resolve) => resolve());
  });
  document.getElementById("token-dialog").addEventListener("cancel", (e) => e.preventDefault());
  const m = location.hash.match(/^#token=(.+)$/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

// ---- small helpers ----

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "style") e.style.cssText = v;  // through the CSSOM: the CSP forbids style attributes
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// A time in the browser's zone, UTC on hover; with milliseconds where the order within a
// second matters (a saga's history).
function time(iso, { ms = false } = {}) {
  if (!iso) return el("span", { class: "muted", text: "—" });
  const d = new Date(iso);
  const text = ms
    ? d.toLocaleDateString() + ", " + d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3 })
    : d.toLocaleString();
  return el("time", { datetime: iso, title: d.toISOString().replace(".000Z", "Z") + " (UTC)", text });
}

function badge(state) {
  return el("span", { class: `badge s-${state}`, "data-state": state, text: state.replace("_", " ") });
}

function json(value) {
  return el("pre", { text: value === null || value === undefined ? "—" : JSON.stringify(value, null, 2) });
}

function showError(e) {
  const banner = document.getElementById("banner");
  banner.hidden = !e;
  banner.textContent = e ? e.message : "";
}

function setLive(text) {
  document.getElementById("live").textContent = text;
}

function link(href, text, attrs = {}) {
  return el("a", Object.assign({ href }, attrs), text);
}

// ---- routing ----

// The page on screen: { stop() }. Each page draws only into the view route() gave it, and
// route() detaches the old view before making the next one, so an answer that reaches a
// stopped page (its fetch was in flight when the user moved on) can never draw over the new one.
let current = null;

function navigate(href, replace = false) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  route();
}

function route() {
  if (current) current.stop();
  showError(null);
  setLive("");
  const path = decodeURIComponent(location.pathname);
  const main = el("div", { class: "view" });
  document.getElementById("main").replaceChildren(main);
  let section = "sagas";
  if (path.startsWith("/sagas/") && path.length > "/sagas/".length) {
    current = sagaPage(main, path.slice("/sagas/".length));
  } else if (path === "/definitions" || path.startsWith("/definitions/")) {
    section = "definitions";
    current = definitionsPage(main, path.slice("/definitions/".length));
  } else {
    current = listPage(main, new URLSearchParams(location.search));
  }
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/assets/") || url.pathname.startsWith("/v1/")) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
  document.getElementById("main").focus();
});
window.addEventListener("popstate", route);

// A loop that runs `tick` now and then every `ms` until stopped; errors show in the banner.
// A slow answer (a filter that makes the orchestrator scan many sagas) spaces the next ones
// out, so a console left open never takes more than a tenth of the orchestrator's time.
const MAX_SHARE = 10;
function poller(tick, ms) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    if (stopped) return;
    const began = performance.now();
    let error = null;
    try {
      await tick();
    } catch (e) {
      error = e;
    }
    if (stopped) return;  // the banner belongs to the page on screen now
    showError(error);
    timer = setTimeout(run, Math.max(ms, (performance.now() - began) * MAX_SHARE));
  };
  run();
  return { stop() { stopped = true; clearTimeout(timer); } };
}

// ---- the saga list ----

const FILTERS = ["status", "saga", "version", "id", "from", "until"];

function toLocalInput(ms) {
  if (!ms) return "";
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function listPage(main, params) {
  const query = (extra = {}) => {
    const q = new URLSearchParams();
    for (const k of FILTERS) if (params.get(k)) q.set(k, params.get(k));
    for (const [k, v] of Object.entries(extra)) {
      if (v) q.set(k, v);
      else q.delete(k);
    }
    return q;
  };
  const href = (extra) => {
    const q = query(extra).toString();
    return "/sagas" + (q ? "?" + q : "");
  };

  const counts = el("div", { class: "counts", "aria-label": "Sagas per state" });
  const rows = el("tbody", {}, el("tr", { class: "loading", id: "loading" }, el("td", { colspan: 6, text: "Loading sagas…" })));
  const pager = el("div", { class: "pager" });
  const sagaSelect = el("select", { name: "saga", "aria-label": "Saga name" }, el("option", { value: "", text: "any saga" }));
  const form = el("form", { class: "filters", role: "search" },
    el("label", {}, "Saga", sagaSelect),
    el("label", {}, "Version", el("input", { name: "version", inputmode: "numeric", size: 4, value: params.get("version") || "" })),
    el("label", {}, "Id starts with", el("input", { name: "id", value: params.get("id") || "", placeholder: "id prefix" })),
    el("label", {}, "Created from", el("input", { name: "from", type: "datetime-local", value: toLocalInput(params.get("from")) })),
    el("label", {}, "Created before", el("input", { name: "until", type: "datetime-local", value: toLocalInput(params.get("until")) })),
    el("button", { type: "submit", class: "primary", text: "Filter" }),
    link("/sagas", "Clear"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const extra = { after: "" };
    for (const k of ["saga", "version", "id"]) extra[k] = (data.get(k) || "").trim();
    for (const k of ["from", "until"]) extra[k] = data.get(k) ? String(new Date(data.get(k)).getTime()) : "";
    navigate(href(extra));
  });
  main.append(el("h1", { text: "Sagas" }), counts, form,
    el("div", { class: "table-wrap" }, el("table", { id: "sagas" },
      el("thead", {}, el("tr", {}, ["Id", "Saga", "State", "Created", "Updated", "Error"].map((h) => el("th", { scope: "col", text: h })))),
      rows)),
    pager);

  api("/v1/definitions").then((defs) => {
    const names = [...new Set(defs.map((d) => d.saga))].sort();
    for (const n of names) sagaSelect.append(el("option", { value: n, text: n, selected: params.get("saga") === n }));
  }).catch(showError);

  const renderCounts = (c) => {
    const status = params.get("status");
    counts.replaceChildren(
      el("a", { class: "count", href: href({ status: "", after: "" }), "aria-current": !status ? "true" : null, "data-state": "all" },
        el("span", { class: "label", text: "all" }), el("strong", { text: c.total })),
      ...STATES.map((s) => el("a", { class: `count s-${s}`, href: href({ status: s, after: "" }), "data-state": s,
        "aria-current": status === s ? "true" : null },
        el("span", { class: "label", text: s }), el("strong", { text: c.states[s] }))));
  };
  const renderRows = (list) => {
    rows.replaceChildren(...(list.length ? list.map((s) => el("tr", { "data-id": s.id, "data-state": s.state },
      el("td", { class: "id" }, link("/sagas/" + encodeURIComponent(s.id), s.id)),
      el("td", { text: `${s.saga || "?"} v${s.version || "?"}` }),
      el("td", {}, badge(s.state)),
      el("td", {}, time(s.created_at)),
      el("td", {}, time(s.updated_at)),
      el("td", { class: "err", text: s.error || "" }))) :
      [el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No saga matches." }))]));
    const older = list.length === PAGE_SIZE ? list[list.length - 1].id : null;
    pager.replaceChildren(
      params.get("after") ? link(href({ after: "" }), "Newest") : "",
      older ? link(href({ after: older }), "Older →", { rel: "next" }) : "");
  };
  return poller(async () => {
    const q = query({ limit: String(PAGE_SIZE) });
    if (params.get("after")) q.set("after", params.get("after"));
    const cq = new URLSearchParams(q);
    for (const k of ["status", "limit", "after"]) cq.delete(k);
    const [c, list] = await Promise.all([api("/v1/counts" + (cq.toString() ? "?" + cq : "")), api("/v1/sagas?" + q)]);
    renderCounts(c);
    renderRows(list);
    setLive("live · " + new Date().toLocaleTimeString());
  }, LIST_POLL_MS);
}

// ---- one saga ----

const EXECUTE_START = ["step-started", "step-retried"];
const EXECUTE_END = ["step-succeeded", "step-failed", "step-attempt-failed", "step-timed-out"];
const UNDO_START = ["compensation-step-started", "compensation-retried"];
const UNDO_END = ["step-compensated", "compensation-attempt-failed", "compensation-timed-out", "step-compensation-failed"];

// Bars from the history: each attempt and each compensation attempt, from start to finish.
function bars(events) {
  const open = new Map();
  const out = [];
  for (const e of events) {
    if (!e.step) continue;
    const at = new Date(e.at).getTime();
    for (const [starts, ends, kind] of [[EXECUTE_START, EXECUTE_END, "execute"], [UNDO_START, UNDO_END, "compensate"]]) {
      const key = e.step + "/" + kind;
      if (starts.includes(e.event)) {
        const bar = { step: e.step, kind, start: at, end: null, outcome: null, detail: e.detail };
        open.set(key, bar);
        out.push(bar);
      } else if (ends.includes(e.event) && open.has(key)) {
        const bar = open.get(key);
        bar.end = at;
        bar.outcome = e.event;
        bar.detail = e.detail;
        open.delete(key);
      }
    }
  }
  return out;
}

function outcomeState(bar) {
  if (!bar.outcome) return bar.kind === "execute" ? "running" : "compensating";
  if (bar.outcome === "step-succeeded") return "completed";
  if (bar.outcome === "step-compensated") return "compensated";
  return "failed";
}

function timeline(status, events) {
  const list = bars(events);
  const box = el("div", { class: "timeline", id: "timeline" });
  if (!list.length) return el("p", { class: "muted", text: "No attempts yet." });
  const now = Date.now();
  const t0 = new Date(status.created_at).getTime();
  const t1 = Math.max(t0 + 1, ...list.map((b) => b.end || now));
  const pct = (t) => ((t - t0) / (t1 - t0)) * 100;
  const order = [];
  for (const b of list) {
    const label = b.kind === "execute" ? b.step : "undo " + b.step;
    if (!order.includes(label)) order.push(label);
  }
  for (const label of order) {
    const track = el("div", { class: "tl-track" });
    list.forEach((b, i) => {
      if ((b.kind === "execute" ? b.step : "undo " + b.step) !== label) return;
      const end = b.end || now;
      const took = end - b.start;
      track.append(el("div", {
        class: `bar ${b.kind} s-${outcomeState(b)}${b.end ? "" : " open"}`,
        style: `left:${pct(b.start)}%;width:${Math.max(pct(end) - pct(b.start), 0.4)}%`,
        "data-step": b.step, "data-kind": b.kind, "data-start": b.start, "data-end": b.end || "",
        "data-order": i, "data-outcome": b.outcome || "open", tabindex: 0, role: "img",
        "aria-label": `${label}: ${b.detail || ""}, ${took} ms`,
        title: `${label} · ${b.detail || ""} · ${b.outcome || "in flight"} · ${took} ms`,
      }));
    });
    box.append(el("div", { class: "tl-row" }, el("div", { class: "tl-label", text: label, title: label }), track));
  }
  box.append(el("div", { class: "tl-axis" }, el("span", { text: "0 ms" }), el("span", { text: `${t1 - t0} ms` })));
  return box;
}

// Colours the graph's nodes by the steps' states and writes attempts beside them.
function colourGraph(svg, status) {
  for (const s of status.steps) {
    const node = svg.querySelector(`[id="step-${CSS.escape(s.name)}"]`);
    if (node) {
      node.classList.add("st", `s-${s.state}`);
      node.dataset.state = s.state;
      const title = node.querySelector("title");
      if (title) title.textContent = `${s.name}: ${s.state}, ${s.attempts} attempt(s)${s.error ? " — " + s.error : ""}`;
      const box = node.querySelector("path, polygon, ellipse");
      if (box && s.attempts > 0) {
        const b = box.getBBox();
        const t = document.createElementNS("http://www.w3.org/2000/svg", "text");
        t.setAttribute("x", b.x + b.width - 4);
        t.setAttribute("y", b.y + 13);
        t.setAttribute("text-anchor", "end");
        t.setAttribute("class", "attempts");
        t.textContent = `×${s.attempts}`;
        node.append(t);
      }
    }
    const undo = svg.querySelector(`[id="undo-${CSS.escape(s.name)}"]`);
    if (undo && (s.compensation_attempts > 0 || ["compensating", "compensated", "compensation_failed"].includes(s.state))) {
      const st = s.state === "compensation_failed" ? "failed" : s.state === "compensated" ? "compensated" : "compensating";
      undo.classList.add("st", `s-${st}`);
      undo.dataset.state = st;
    }
  }
}

function sagaPage(main, id) {
  let stopped = false;
  let after = 0;
  let events = [];
  let svgText = null;
  let status = null;
  const dialog = setupCompensate(id, () => refresh());
  main.replaceChildren(el("p", { class: "loading-page", id: "loading", role: "status", text: `Loading saga ${id}…` }));

  const render = () => {
    const steps = el("tbody", {}, status.steps.map((s) => el("tr", { "data-step": s.name, "data-state": s.state },
      el("td", {}, s.name, s.group ? el("div", { class: "muted", text: "in " + s.group }) : ""),
      el("td", {}, badge(s.state)),
      el("td", { text: s.compensation_attempts ? `${s.attempts} + ${s.compensation_attempts} undo` : String(s.attempts) }),
      el("td", { class: "err", text: s.error || "" }),
      el("td", {}, json(s.request)),
      el("td", {}, json(s.reply)))));
    const canCompensate = status.state === "running" || status.state === "failed";
    const graph = el("div", { class: "graph card", id: "graph" });
    if (svgText) {
      graph.innerHTML = svgText;
      const svg = graph.querySelector("svg");
      if (svg) {
        // Its own width (Graphviz's, in pt) at most the card's; the height follows the viewBox.
        svg.removeAttribute("height");
        svg.setAttribute("role", "img");
        svg.setAttribute("aria-label", `graph of ${status.saga} v${status.version}`);
      }
    }
    main.replaceChildren(
      el("div", { class: "head" },
        el("h1", { text: status.id }), badge(status.state),
        canCompensate ? el("button", { class: "danger", id: "compensate", onclick: () => dialog.open(), text: "Compensate…" }) : ""),
      el("div", { class: "meta" },
        el("div", {}, el("span", { text: "Saga" }), link(`/definitions/${encodeURIComponent(status.saga)}`, `${status.saga} v${status.version}`)),
        el("div", {}, el("span", { text: "Created" }), time(status.created_at)),
        el("div", {}, el("span", { text: "Updated" }), time(status.updated_at)),
        status.error ? el("div", { class: "err" }, el("span", { text: "Error" }), status.error) : ""),
      el("div", { class: "stack" },
        el("section", { "aria-labelledby": "graph-title" }, el("h2", { id: "graph-title", text: "Graph" }), graph,
          el("div", { class: "legend" }, ["pending", "running", "succeeded", "failed", "compensating", "compensated", "skipped"].map(badge))),
        el("section", { "aria-labelledby": "tl-title" }, el("h2", { id: "tl-title", text: "Timeline" }),
          el("div", { class: "card" }, timeline(status, events)))),
      el("h2", { text: "Steps" }),
      el("div", { class: "table-wrap" }, el("table", { id: "steps" },
        el("thead", {}, el("tr", {}, ["Step", "State", "Attempts", "Last error", "Request", "Reply"].map((h) => el("th", { scope: "col", text: h })))),
        steps)),
      el("div", { class: "layout" },
        el("section", {}, el("h2", { text: "Input" }), json(status.input)),
        el("section", {}, el("h2", { text: "Output" }), json(status.output))),
      el("h2", { text: "History" }),
      el("div", { class: "table-wrap events" }, el("table", { id: "history" },
        el("thead", {}, el("tr", {}, ["Time", "Event", "Step", "Detail"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, events.map((e) => el("tr", { "data-event": e.event },
          el("td", {}, time(e.at, { ms: true })), el("td", { text: e.event }), el("td", { text: e.step || "" }), el("td", { text: e.detail })))))));
    const svg = graph.querySelector("svg");
    if (svg) colourGraph(svg, status);
  };

  const refresh = async () => {
    status = await api("/v1/sagas/" + encodeURIComponent(id));
    if (svgText === null) {
      svgText = await api(`/v1/definitions/${encodeURIComponent(status.saga)}/${status.version}/graph.svg`).catch((e) => {
        showError(e);
        return "";
      });
    }
    if (!stopped) render();
  };

  const follow = async () => {
    try {
      await refresh();
    } catch (e) {
      if (stopped) return;
      if (e.status === 404) return notFound(main, id, e.message);
      showError(e);
    }
    while (!stopped) {
      try {
        const page = await api(`/v1/sagas/${encodeURIComponent(id)}/events?after=${after}&wait=${EVENTS_WAIT_MS}`);
        if (stopped) return;
        showError(null);
        if (page.events.length) {
          events = events.concat(page.events);
          after = page.next;
          await refresh();
        }
        const done = !["running", "compensating"].includes(page.state);
        setLive(done ? "finished" : "live · " + new Date().toLocaleTimeString());
        if (done && !page.events.length) await new Promise((r) => setTimeout(r, LIST_POLL_MS * 5));
      } catch (e) {
        if (stopped) return;
        showError(e);
        await new Promise((r) => setTimeout(r, LIST_POLL_MS));
      }
    }
  };
  follow();
  return { stop() { stopped = true; } };
}

function notFound(main, id, message) {
  main.replaceChildren(el("div", { class: "notfound card", id: "not-found" },
    el("h1", { text: "No saga with this id" }),
    el("p", {}, el("code", { text: id })),
    el("p", { class: "muted", text: message }),
    el("p", {}, link("/sagas?id=" + encodeURIComponent(id.slice(0, 8)), "Sagas whose id starts like it"), " · ", link("/sagas", "All sagas"))));
}

function setupCompensate(id, done) {
  const dialog = document.getElementById("compensate-dialog");
  const form = document.getElementById("compensate-form");
  const reason = document.getElementById("compensate-reason");
  const confirm = document.getElementById("compensate-confirm");
  const error = document.getElementById("compensate-error");
  const submit = document.getElementById("compensate-submit");
  document.getElementById("compensate-id").textContent = id;
  form.onsubmit = async (e) => {
    e.preventDefault();
    if (!reason.value.trim() || !confirm.checked) return;
    submit.disabled = true;
    try {
      await api(`/v1/sagas/${encodeURIComponent(id)}/compensate`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ reason: reason.value.trim() }),
      });
      dialog.close();
      done();
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  };
  document.getElementById("compensate-cancel").onclick = () => dialog.close();
  return {
    open() {
      reason.value = "";
      confirm.checked = false;
      error.hidden = true;
      dialog.showModal();
      reason.focus();
    },
  };
}

// ---- definitions ----

function definitionsPage(main, name) {
  const box = el("div", { class: "defs" });
  main.append(el("h1", { text: name ? "Definition " + name : "Definitions" }), box);
  let shown = false;
  const graphs = new Map();
  return poller(async () => {
    const defs = (await api("/v1/definitions")).filter((d) => !name || d.saga === name);
    if (!defs.length) {
      box.replaceChildren(el("p", { class: "muted", text: name ? `No definition named ${name} is loaded.` : "No definition is loaded." }));
      return;
    }
    for (const d of defs) {
      const key = `${d.saga}/${d.version}`;
      if (!graphs.has(key)) graphs.set(key, await api(`/v1/definitions/${encodeURIComponent(d.saga)}/${d.version}/graph.svg`).catch(() => ""));
    }
    if (shown) {
      for (const d of defs) {
        for (const s of STATES) {
          const cell = box.querySelector(`[data-def="${CSS.escape(d.saga + "/" + d.version)}"] [data-state="${s}"] strong`);
          if (cell) cell.textContent = d.states[s];
        }
      }
      return;
    }
    shown = true;
    box.replaceChildren(...defs.map((d) => {
      const graph = el("div", { class: "graph" });
      graph.innerHTML = graphs.get(`${d.saga}/${d.version}`);
      return el("section", { class: "card", "data-def": `${d.saga}/${d.version}` },
        el("h2", {}, link(`/definitions/${encodeURIComponent(d.saga)}`, d.saga), ` v${d.version}`, d.current ? " (current)" : ""),
        d.description ? el("p", { text: d.description }) : "",
        el("p", { class: "muted", text: `${d.steps.length} steps · ${d.compensation} compensation` }),
        el("div", { class: "counts" }, STATES.map((s) => el("a", {
          class: `count s-${s}`, "data-state": s,
          href: `/sagas?saga=${encodeURIComponent(d.saga)}&version=${d.version}&status=${s}`,
        }, el("span", { class: "label", text: s }), el("strong", { text: d.states[s] })))),
        graph);
    }));
    setLive("live · " + new Date().toLocaleTimeString());
  }, LIST_POLL_MS);
}

setupTokenDialog();
route();
