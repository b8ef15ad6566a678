'use strict';
// The participant's guarantees, without Kafka.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ParticipantCore, MemoryReplyLog, FileReplyLog, Reply } = require('..');

const quiet = { warn: () => {}, error: () => {} };

function command({ action = 'execute', step = 'reserve', name = 'Reserve', attempt = 1, messageId = 'm-1', value } = {}) {
  return {
    key: Buffer.from('s-1'),
    value: Buffer.from(value ?? JSON.stringify({ orderId: 'o-1' })),
    headers: {
      'saga-id': Buffer.from('s-1'), 'saga-name': Buffer.from('order'), 'saga-version': Buffer.from('1'),
      'saga-step': Buffer.from(step), 'saga-action': Buffer.from(action), 'saga-command': Buffer.from(name),
      'message-id': Buffer.from(messageId), 'idempotency-key': Buffer.from(`s-1/${step}/${action}`),
      'reply-to': Buffer.from('order.replies'), attempt: Buffer.from(String(attempt)),
      traceparent: Buffer.from('00-0123456789abcdef0123456789abcdef-0123456789abcdef-01'),
    },
  };
}

test('the reply goes to reply-to with the correlation headers', async () => {
  const core = new ParticipantCore(new MemoryReplyLog(), quiet);
  core.on('Reserve', async (c) => Reply.ok({ reservationId: `r-${c.payload.orderId}` }));
  const out = await core.handle(command());
  assert.strictEqual(out.topic, 'order.replies');
  assert.strictEqual(out.key.toString(), 's-1');
  assert.deepStrictEqual(JSON.parse(out.value), { reservationId: 'r-o-1' });
  assert.deepStrictEqual(out.headers, {
    'saga-id': 's-1', 'saga-step': 'reserve', 'saga-action': 'execute', 'in-reply-to': 'm-1',
    traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01', outcome: 'success',
  });
});

test('the reply goes to the partition the command names, in either convention', async () => {
  const core = new ParticipantCore(new MemoryReplyLog(), quiet);
  core.on('Reserve', async () => Reply.ok());
  const withHeaders = (extra) => {
    const c = command();
    Object.assign(c.headers, extra);
    return c;
  };
  assert.strictEqual((await core.handle(command())).partition, undefined, 'no header: by key');
  assert.strictEqual((await core.handle(withHeaders({ 'reply-partition': Buffer.from('2') }))).partition, 2);
  const spring = Buffer.alloc(4);
  spring.writeUInt32BE(261);
  assert.strictEqual((await core.handle(withHeaders({ kafka_replyPartition: spring }))).partition, 261);
  const both = withHeaders({ kafka_replyPartition: spring, 'reply-partition': Buffer.from('7') });
  assert.strictEqual((await core.handle(both)).partition, 7, 'ours first');
  for (const bad of ['-1', 'x', '', '1.5', '99999999999']) {
    assert.strictEqual((await core.handle(withHeaders({ 'reply-partition': Buffer.from(bad) }))).partition, undefined, bad);
  }
});

test('a repeated command gets the recorded reply and the handler runs once', async () => {
  const core = new ParticipantCore(new MemoryReplyLog(), quiet);
  let calls = 0;
  core.on('Reserve', () => Reply.ok({ call: ++calls }));
  const first = await core.handle(command());
  const again = await core.handle(command({ attempt: 2, messageId: 'm-2' }));
  assert.strictEqual(calls, 1);
  assert.strictEqual(again.value, first.value);
  assert.strictEqual(again.headers['in-reply-to'], 'm-2');
});

test('a failure is not recorded, so a retry runs again', async () => {
  const core = new ParticipantCore(new MemoryReplyLog(), quiet);
  let calls = 0;
  core.on('Reserve', () => { calls += 1; return Reply.failure('out of stock'); });
  const out = await core.handle(command());
  assert.deepStrictEqual(JSON.parse(out.value), { error: 'out of stock' });
  assert.strictEqual(out.headers.outcome, 'failure');
  await core.handle(command({ attempt: 2, messageId: 'm-2' }));
  assert.strictEqual(calls, 2);
});

test('an unknown compensation is an empty success and the late command is refused', async () => {
  const core = new ParticipantCore(new MemoryReplyLog(), quiet);
  let undone = 0;
  let done = 0;
  core.on('Release', () => { undone += 1; return Reply.ok(); });
  core.on('Reserve', () => { done += 1; return Reply.ok(); });
  const out = await core.handle(command({ action: 'compensate', name: 'Release' }));
  assert.strictEqual(out.value, '{}');
  assert.strictEqual(out.headers.outcome, 'success');
  const late = await core.handle(command());
  assert.strictEqual(late.headers.outcome, 'failure');
  assert.strictEqual(undone + done, 0);
});

test('a handler that throws sends nothing and records nothing', async () => {
  const log = new MemoryReplyLog();
  const errors = [];
  const core = new ParticipantCore(log, { warn: () => {}, error: (m) => errors.push(m) });
  core.on('Reserve', async () => { throw new Error('database down'); });
  assert.strictEqual(await core.handle(command()), null);
  assert.strictEqual(log.find('s-1/reserve/execute'), undefined);
  assert.match(errors[0], /database down/);
});

test('a handler returning something that is not a Reply is logged, unanswered, and the next command is served', async () => {
  const log = new MemoryReplyLog();
  const errors = [];
  const core = new ParticipantCore(log, { warn: () => {}, error: (m) => errors.push(m) });
  for (const wrong of [{ ok: true }, undefined, null, 'done', [1]]) {
    core.on('Reserve', async () => wrong);
    assert.strictEqual(await core.handle(command()), null);
    assert.match(errors.at(-1), /saga=s-1 step=reserve key=s-1\/reserve\/execute: .* not a Reply/);
  }
  assert.strictEqual(log.find('s-1/reserve/execute'), undefined);
  core.on('Reserve', () => Reply.ok());  // a plain function is fine too
  assert.notStrictEqual(await core.handle(command()), null);
});

test('a handler past its deadline is left running, and its late success answers the next attempt', async () => {
  const log = new MemoryReplyLog();
  const lines = [];
  const core = new ParticipantCore(log, { warn: (m) => lines.push(m), error: (m) => lines.push(m) },
    { handlerTimeoutMs: 50 });
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  let calls = 0;
  core.on('Reserve', async () => { calls += 1; await released; return Reply.ok({ late: true }); });
  core.on('Ship', async () => Reply.ok({ shipped: true }));
  assert.strictEqual(await core.handle(command()), null);
  assert.match(lines.at(-1), /did not return within 50 ms/);
  const shipped = await core.handle(command({ step: 'ship', name: 'Ship' }));
  assert.deepStrictEqual(JSON.parse(shipped.value), { shipped: true });
  assert.strictEqual(await core.handle(command({ attempt: 2, messageId: 'm-2' })), null);
  assert.match(lines.at(-1), /still running/);
  release();
  await released;
  await new Promise((resolve) => { setImmediate(resolve); });
  const third = await core.handle(command({ attempt: 3, messageId: 'm-3' }));
  assert.deepStrictEqual(JSON.parse(third.value), { late: true });
  assert.strictEqual(calls, 1);
});

test('an expired command is skipped without calling its handler', async () => {
  const now = Date.UTC(2025, 10, 24, 16, 0, 0, 0);
  const lines = [];
  const core = new ParticipantCore(new MemoryReplyLog(), { info: (m) => lines.push(m), warn: () => {}, error: () => {} },
    { now: () => now });
  let calls = 0;
  core.on('Reserve', () => { calls += 1; return Reply.ok(); });
  const old = command();
  old.headers['expires-at'] = Buffer.from('2025-11-24T15:59:59.999Z');
  assert.strictEqual(await core.handle(old), null);
  assert.match(lines[0], /skipped, it expired at 2025-11-24T15:59:59.999Z/);
  assert.strictEqual(calls, 0);
  const due = command();
  due.headers['expires-at'] = Buffer.from('2025-11-24T16:00:00.000Z');
  assert.notStrictEqual(await core.handle(due), null);
  assert.strictEqual(calls, 1);
});

test('expires-at reads as RFC 3339 UTC', () => {
  const { parseTime } = require('../src/protocol');
  assert.strictEqual(parseTime('2025-11-24T16:00:00.123Z'), 1764000000123);
  assert.strictEqual(parseTime('2025-11-24T16:00:00Z'), 1764000000000);
  for (const bad of ['', '2025-11-24', '2025-11-24T16:00:00', '2025-13-24T16:00:00Z', '2025-11-24T16:00:00+01:00']) {
    assert.strictEqual(parseTime(bad), undefined, bad);
  }
});

test('an unknown command is answered with a failure; a message that is not a command gets nothing', async () => {
  const warnings = [];
  const core = new ParticipantCore(new MemoryReplyLog(), { warn: (m) => warnings.push(m), error: () => {} });
  const out = await core.handle(command({ name: 'Nope' }));
  assert.deepStrictEqual(JSON.parse(out.value), { error: 'no handler for command "Nope"' });
  const bad = command();
  delete bad.headers['idempotency-key'];
  assert.strictEqual(await core.handle(bad), null);
  assert.strictEqual(await core.handle(command({ value: '{not json' })), null);
  assert.match(warnings[0], /missing header "idempotency-key"/);
  assert.match(warnings[1], /not JSON/);
});

test('the file reply log survives a reopen and drops a torn last line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sagactl-node-'));
  const file = path.join(dir, 'replies.jsonl');
  const log = new FileReplyLog(file);
  log.put('k', Reply.ok({ id: 7 }));
  log.close();
  fs.appendFileSync(file, '{"k":"torn","s":tr');
  const again = new FileReplyLog(file);
  assert.deepStrictEqual(again.find('k'), { success: true, body: { id: 7 } });
  assert.strictEqual(again.find('torn'), undefined);
  again.put('k2', Reply.ok());
  again.close();
  const third = new FileReplyLog(file);
  assert.deepStrictEqual(third.find('k2'), { success: true, body: {} });
  third.close();
  fs.rmSync(dir, { recursive: true });
});

test('every header the SDK reads or writes has its row in docs/protocol.md', async () => {
  const doc = fs.readFileSync(path.join(__dirname, '../../../docs/protocol.md'), 'utf8');
  const commands = doc.slice(doc.indexOf('\n## Commands'), doc.indexOf('\n## Replies'));
  const replies = doc.slice(doc.indexOf('\n## Replies'), doc.indexOf('\n## What a participant'));
  const { header } = require('..');
  const replyOnly = [header.inReplyTo, header.outcome];
  for (const name of Object.values(header)) {
    if (!replyOnly.includes(name)) assert.ok(commands.includes(`| \`${name}\` |`), name);
  }
  const core = new ParticipantCore(new MemoryReplyLog(), quiet);
  const out = await core.handle(command({ name: 'Nope' }));
  for (const name of Object.keys(out.headers)) assert.ok(replies.includes(`| \`${name}\` |`), name);
  assert.ok(commands.includes('`<saga-id>/<step>/<action>`'));
});
