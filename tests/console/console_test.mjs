// The console in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core) against `sagactl run` with the order saga, an admin token, and the C++
// order services. One saga completes, one is declined and compensated, one is held running
// (its invoice service is silent) and compensated from the console. Saves screenshots.
//   SAGACTL_BIN, ORDER_SERVICES_BIN, SOURCE_DIR, SCREENSHOT_DIR come from ctest.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { test, after } from "node:test";
import { chromium } from "playwright-core";

const SAGACTL = process.env.SAGACTL_BIN;
const SERVICES = process.env.ORDER_SERVICES_BIN;
const SOURCE = process.env.SOURCE_DIR;
const SHOTS = process.env.SCREENSHOT_DIR;
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const TOKEN = "console-test-token";
const DEADLINE_MS = 30_000;

const work = mkdtempSync(join(tmpdir(), "sagactl-console-"));
const children = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
});

function startProcess(args, name) {
  const child = spawn(args[0], args.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  child.out = "";
  child.err = "";
  child.stdout.on("data", (d) => (child.out += d));
  child.stderr.on("data", (d) => (child.err += d));
  child.label = name;
  children.push(child);
  return child;
}

async function until(what, check, ms = DEADLINE_MS) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let admin = "";
async function call(method, path, body) {
  const r = await fetch(`http://${admin}${path}`, {
    method, headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

const order = (id, amount) => ({ saga: "order-fulfilment", id, input: { orderId: id, amount, items: [{ sku: "tea", qty: 1 }], express: true } });

async function finished(id) {
  return until(`${id} to finish`, async () => {
    const s = await call("GET", `/v1/sagas/${id}`);
    return ["completed", "compensated", "failed"].includes(s.body.state) && s.body.state;
  });
}

test("the console shows sagas live and compensates one", async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  mkdirSync(SHOTS, { recursive: true });
  // The order saga as the examples have it, but an unanswered invoice waits an hour before
  // its retry: the held saga is still running (and nothing of it in flight) whenever the
  // browser gets to it, however slow the machine.
  mkdirSync(join(work, "sagas"));
  const saga = readFileSync(join(SOURCE, "examples/sagas/order-fulfilment.yaml"), "utf8");
  const invoice = "          command: CreateInvoice\n";
  assert.ok(saga.includes(invoice));
  writeFileSync(join(work, "sagas/order-fulfilment.yaml"), saga.replace(invoice, invoice +
    "          timeout: 2s\n          retry: {max_attempts: 3, backoff: fixed, initial: 1h, max: 1h, jitter: false}\n"));
  writeFileSync(join(work, "sagactl.yaml"),
    `sagas: ${work}/sagas\nstate: ${work}/sagactl.db\nkafka: {brokers: embedded, embedded_port: 0}\n` +
    `admin: {address: 127.0.0.1:0, token: ${TOKEN}}\nlog: {level: warn}\n`);
  const run = startProcess([SAGACTL, "run", "--config", join(work, "sagactl.yaml")], "sagactl run");
  await until("sagactl run's admin line", () => /^admin: (\S+)/m.test(run.out)).catch((e) => {
    throw new Error(e.message + "\n" + run.err);
  });
  admin = run.out.match(/^admin: (\S+)/m)[1];
  const bootstrap = run.out.match(/^bootstrap: (\S+)/m)[1];
  await until("readiness", async () => (await fetch(`http://${admin}/readyz`)).status === 200);

  // One completes, one is declined by payments and compensated.
  let services = startProcess([SERVICES, "--brokers", bootstrap, "--state-dir", work], "order-services");
  assert.equal((await call("POST", "/v1/sagas", order("ok-1", 42))).status, 201);
  assert.equal(await finished("ok-1"), "completed");
  // A long payload: an unbroken 300-character SKU and a long note, to lay out in the steps table.
  const long = order("long-1", 42);
  long.input.items = [{ sku: "SKU-" + "x".repeat(300), qty: 1, note: "fragile ".repeat(60) }];
  assert.equal((await call("POST", "/v1/sagas", long)).status, 201);
  assert.equal(await finished("long-1"), "completed");
  assert.equal((await call("POST", "/v1/sagas", order("declined-1", 5000))).status, 201);
  assert.equal(await finished("declined-1"), "compensated");
  // One held running: the invoice service does not answer, and the step waits to retry.
  services.kill("SIGTERM");
  await until("the services to stop", () => services.exitCode !== null);
  services = startProcess([SERVICES, "--brokers", bootstrap, "--state-dir", work, "--silent", "CreateInvoice"], "order-services");
  assert.equal((await call("POST", "/v1/sagas", order("held-1", 7))).status, 201);
  await until("held-1 to charge the card and wait to retry the invoice", async () => {
    const s = await call("GET", "/v1/sagas/held-1");
    const step = (name) => s.body.steps.find((x) => x.name === name);
    return step("charge-card").state === "succeeded" && /timed out/.test(step("create-invoice").error || "");
  });

  const consoleErrors = [];
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "Europe/Berlin" });
    const page = await context.newPage();
    const offsite = [];
    page.on("request", (r) => { if (!r.url().startsWith(`http://${admin}/`)) offsite.push(r.url()); });
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));

    // The token is asked for, then the list shows every saga with its state and the counts.
    await page.goto(`http://${admin}/`);
    await page.locator("#token-dialog").waitFor({ state: "visible" });
    await page.fill("#token-input", TOKEN);
    await page.keyboard.press("Enter");  // the form works from the keyboard
    const row = (id) => page.locator(`#sagas tr[data-id="${id}"]`);
    await row("held-1").waitFor();
    const count = (state) => page.locator(`.counts [data-state="${state}"] strong`);
    assert.equal(await count("all").textContent(), "4");
    assert.equal(await count("completed").textContent(), "2");
    assert.equal(await count("compensated").textContent(), "1");
    assert.equal(await count("running").textContent(), "1");
    assert.equal(await row("ok-1").getAttribute("data-state"), "completed");
    assert.equal(await row("declined-1").getAttribute("data-state"), "compensated");
    assert.equal(await row("held-1").getAttribute("data-state"), "running");
    const ids = await page.locator("#sagas tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
    assert.deepEqual(ids, ["held-1", "declined-1", "long-1", "ok-1"], "newest first");
    assert.equal(await page.locator('#sagas tr[data-id="ok-1"] td.id').evaluate((e) => getComputedStyle(e).whiteSpace),
      "nowrap", "ids on one line");
    const created = page.locator('#sagas tr[data-id="ok-1"] time').first();
    assert.match(await created.getAttribute("title"), /Z \(UTC\)$/, "UTC on hover");
    await page.screenshot({ path: join(SHOTS, "console-list.png") });

    // From the keyboard: a saga's link, focused, opens with Enter (and Back returns). The saga
    // page asks for the saga again once its history arrives; that answer is held until the user
    // is back on the list, and must not draw the saga page over it (as a slow machine once did).
    let held = null;
    let asked = 0;
    const statusPath = /\/v1\/sagas\/ok-1$/;
    await page.route(statusPath, (r) => (++asked === 2 ? (held = r) : r.continue()));
    await page.locator('#sagas tr[data-id="ok-1"] a').focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/sagas\/ok-1$/);
    await page.locator('#graph [id="step-reserve-stock"].st').waitFor();
    await until("the saga page's second question", () => held !== null);
    await page.goBack();
    await row("ok-1").waitFor();
    const lateAnswer = page.waitForEvent("requestfinished", (r) => statusPath.test(r.url()));
    await held.continue();
    await lateAnswer;
    await page.waitForResponse((r) => r.url().includes("/v1/counts"));  // a list refresh after it
    assert.ok(await row("ok-1").isVisible(), "the list stays on screen");
    assert.equal(await page.locator("#graph").count(), 0, "the left saga page does not draw itself again");
    await page.unroute(statusPath);

    // A filter by state is a link that can be shared.
    await page.click('.counts [data-state="compensated"]');
    await page.waitForURL(/status=compensated/);
    await until("the filtered list", async () => (await page.locator("#sagas tbody tr[data-id]").count()) === 1);
    assert.equal(await page.locator("#sagas tbody tr[data-id]").first().getAttribute("data-id"), "declined-1");

    // A completed saga: every step coloured succeeded, the parallel group's bars overlap.
    await page.goto(`http://${admin}/sagas/ok-1`);
    await page.locator('#graph [id="step-reserve-stock"].st').waitFor();
    const nodeState = (step) => page.locator(`#graph [id="step-${step}"]`).getAttribute("data-state");
    for (const step of ["reserve-stock", "charge-card", "create-invoice", "confirm-order", "ship"]) {
      assert.equal(await nodeState(step), "succeeded", step);
    }
    // Read once the graph has settled: a live refresh may replace the SVG between reads, and a
    // node read mid-swap has no computed style yet (seen once on a loaded machine).
    const stroke = () => page.locator('#graph [id="step-charge-card"] > path, #graph [id="step-charge-card"] > polygon')
      .first().evaluate((e) => getComputedStyle(e).stroke).catch(() => "");
    await until("the succeeded step's colour", async () => (await stroke()) === "rgb(26, 127, 55)").catch(() => {});
    assert.equal(await stroke(), "rgb(26, 127, 55)", "succeeded steps are drawn green");
    const bars = async () => page.locator("#timeline .bar").evaluateAll((els) => els.map((e) => ({
      step: e.dataset.step, kind: e.dataset.kind, start: Number(e.dataset.start), end: Number(e.dataset.end),
      outcome: e.dataset.outcome })));
    // The graph is drawn from the saga's status; the timeline follows when its history arrives.
    await until("the completed saga's timeline", async () => (await bars()).filter((b) => b.kind === "execute").length === 5);
    const okBars = await bars();
    const bar = (list, step, kind = "execute") => list.find((b) => b.step === step && b.kind === kind);
    assert.equal(okBars.filter((b) => b.kind === "execute").length, 5);
    assert.ok(bar(okBars, "reserve-stock").end <= bar(okBars, "charge-card").start, "reserve-stock before the group");
    assert.ok(bar(okBars, "charge-card").start < bar(okBars, "create-invoice").end &&
      bar(okBars, "create-invoice").start < bar(okBars, "charge-card").end, "the group's steps run at once");
    assert.ok(bar(okBars, "confirm-order").end <= bar(okBars, "ship").start, "the pivot before ship");
    assert.match(await page.locator("#steps").textContent(), /reservationId/, "the payloads are shown");
    await page.screenshot({ path: join(SHOTS, "console-saga.png"), fullPage: true });

    // The declined one: charge-card failed, the others undone in reverse order.
    await page.goto(`http://${admin}/sagas/declined-1`);
    await page.locator('#graph [id="step-charge-card"].st').waitFor();
    assert.equal(await nodeState("charge-card"), "failed");
    assert.equal(await nodeState("reserve-stock"), "compensated");
    assert.equal(await page.locator('#graph [id="undo-reserve-stock"]').getAttribute("data-state"), "compensated");
    await until("the declined saga's timeline", async () =>
      (await bars()).filter((b) => b.kind === "compensate" && b.end).length >= 2);
    const declined = await bars();
    const undoInvoice = bar(declined, "create-invoice", "compensate");
    const undoStock = bar(declined, "reserve-stock", "compensate");
    assert.ok(undoInvoice && undoStock, "both compensations are bars");
    assert.ok(undoInvoice.end <= undoStock.start, "sequential compensation: the group first, reserve-stock last");
    assert.equal(bar(declined, "charge-card").outcome, "step-failed");
    assert.equal(await page.locator("#compensate").count(), 0, "no Compensate button on a finished saga");
    await page.screenshot({ path: join(SHOTS, "console-compensated.png"), fullPage: true });

    // The saga page lays out at 1280 px: nothing overflows the page, a long payload folds inside
    // its cell, the graph's text is readable, history times carry milliseconds, and the page
    // says it is loading before its data arrives.
    const longStatus = /\/v1\/sagas\/long-1$/;
    let heldLong = null;
    await page.route(longStatus, (r) => (heldLong === null ? (heldLong = r) : r.continue()));
    await page.goto(`http://${admin}/sagas/long-1`);
    await page.locator("#loading").waitFor();
    assert.match(await page.locator("#loading").textContent(), /Loading saga long-1/);
    await until("the saga page's question", () => heldLong !== null);
    await heldLong.continue();
    await page.locator('#graph [id="step-reserve-stock"].st').waitFor();
    await until("the long saga's history", async () => (await page.locator("#history tbody tr").count()) > 5);
    await page.unroute(longStatus);
    const layout = await page.evaluate(() => {
      const svg = document.querySelector("#graph svg");
      const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      const sizes = [...svg.querySelectorAll("text")].map((t) => parseFloat(t.getAttribute("font-size") || getComputedStyle(t).fontSize) * scale);
      const main = document.querySelector("main").getBoundingClientRect();
      const cells = [...document.querySelectorAll("#steps td, #steps th")].map((c) => c.getBoundingClientRect().right);
      return { overflow: document.documentElement.scrollWidth - window.innerWidth, smallestText: Math.min(...sizes),
        stepsRight: Math.max(...cells), mainRight: main.right, graphWidth: svg.getBoundingClientRect().width,
        mainWidth: main.width };
    });
    assert.ok(layout.overflow <= 1, `the page fits 1280 px (overflows by ${layout.overflow}px)`);
    assert.ok(layout.stepsRight <= layout.mainRight + 1, `the steps table fits the page: ${JSON.stringify(layout)}`);
    assert.ok(layout.smallestText >= 11, `the graph's text is readable: ${layout.smallestText.toFixed(1)} px`);
    assert.match(await page.locator("#history tbody tr time").first().textContent(), /\d{2}:\d{2}:\d{2}[.,]\d{3}/,
      "history times with milliseconds");
    await page.screenshot({ path: join(SHOTS, "console-long-payload.png"), fullPage: true });

    // A second tab follows the list while the first compensates the held saga.
    const listTab = await context.newPage();
    await listTab.goto(`http://${admin}/sagas#token=${TOKEN}`);
    await listTab.locator('#sagas tr[data-id="held-1"]').waitFor();
    await page.goto(`http://${admin}/sagas/held-1`);
    await page.locator("#compensate").waitFor();
    assert.equal(await nodeState("create-invoice"), "running", "waiting for its retry");
    await page.click("#compensate");
    await page.locator("#compensate-dialog").waitFor({ state: "visible" });
    await page.click("#compensate-submit");  // nothing happens without a reason and the confirmation
    assert.ok(await page.locator("#compensate-dialog").isVisible(), "a reason and a confirmation are asked for");
    await page.fill("#compensate-reason", "customer cancelled on the phone");
    await page.check("#compensate-confirm");
    await page.click("#compensate-submit");
    await page.locator('.head [data-state="compensated"]').waitFor({ timeout: DEADLINE_MS });  // live, no reload
    assert.equal(await nodeState("reserve-stock"), "compensated");
    assert.match(await page.locator("#history").textContent(), /customer cancelled on the phone/);
    await until("the other tab's counts to move", async () =>
      (await listTab.locator('.counts [data-state="compensated"] strong').textContent()) === "2" &&
      (await listTab.locator('.counts [data-state="running"] strong').textContent()) === "0");
    await page.screenshot({ path: join(SHOTS, "console-compensate.png"), fullPage: true });

    // Definitions: the graph and the counts per state.
    await page.goto(`http://${admin}/definitions`);
    const def = page.locator('[data-def="order-fulfilment/2"]');
    await def.locator("svg").waitFor();
    assert.equal(await def.locator('[data-state="compensated"] strong').textContent(), "2");
    assert.equal(await def.locator('[data-state="completed"] strong').textContent(), "2");

    // An unknown id, and a bad request, say so.
    await page.goto(`http://${admin}/sagas/no-such-saga`);
    await page.locator("#not-found").waitFor();
    assert.match(await page.locator("#not-found").textContent(), /no-such-saga/);
    await page.goto(`http://${admin}/sagas?version=x`);
    await page.locator("#banner:not([hidden])").waitFor();
    assert.match(await page.locator("#banner").textContent(), /version=x must be a whole number/);

    // A phone.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const small = await phone.newPage();
    await small.goto(`http://${admin}/sagas/declined-1#token=${TOKEN}`);
    await small.locator('#graph [id="step-charge-card"].st').waitFor();
    const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page fits a phone's width (overflows by ${overflow}px)`);
    await small.screenshot({ path: join(SHOTS, "console-phone.png"), fullPage: true });

    assert.deepEqual(offsite, [], "the browser loads nothing from anywhere else");
    // The 401s before the token and the 400 and 404 asked for above are logged by the browser.
    assert.deepEqual(consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of 40[014]/.test(e)), [],
      "no script errors");
  } catch (e) {
    for (const p of browser.contexts().flatMap((c) => c.pages())) {
      await p.screenshot({ path: join(SHOTS, `failure-${p.url().replace(/\W+/g, "_").slice(-60)}.png`) }).catch(() => {});
    }
    e.message += `\nbrowser console errors: ${JSON.stringify(consoleErrors)}\nsagactl run: ${run.err}`;
    throw e;
  } finally {
    await browser.close();
  }
  services.kill("SIGTERM");
  run.kill("SIGTERM");
  await until("sagactl run to stop", () => run.exitCode !== null);
  assert.equal(run.exitCode, 0, run.err);
});
