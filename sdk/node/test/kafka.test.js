'use strict';
// The Kafka participant against a real Kafka-protocol broker (`sagactl dev-broker`).
// Needs SAGACTL_BIN (the built sagactl); ctest sets it.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Kafka, Partitioners, logLevel } = require('kafkajs');
const { Participant, Reply } = require('..');

const DEADLINE_MS = 30000;
const quiet = { warn: () => {}, error: (m) => console.error(m), info: () => {} };

function freePort() {
  return new Promise((resolve, reject) => {
    const server = require('node:net').createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function startBroker(port = 0) {
  return new Promise((resolve, reject) => {
    const broker = spawn(process.env.SAGACTL_BIN, ['dev-broker', '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    broker.stdout.on('data', (d) => {
      out += d;
      const m = /^bootstrap: (\S+)\n/.exec(out);
      if (m) resolve({ broker, bootstrap: m[1] });
    });
    broker.on('exit', (code) => reject(new Error(`dev-broker exited ${code}: ${out}`)));
  });
}

test('a command is answered on reply-to, and a repeat after a restart from the reply log', {
  skip: !process.env.SAGACTL_BIN && 'SAGACTL_BIN is not set (ctest sets it)', timeout: 120000,
}, async () => {
  const { broker, bootstrap } = await startBroker();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sagactl-node-kafka-'));
  const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const reader = kafka.consumer({ groupId: 'test-reader', maxWaitTimeInMs: 10 });
  let calls = 0;
  const serve = async () => {
    const p = new Participant({ brokers: bootstrap, topics: 'inventory.commands', group: 'inventory',
      replyLog: path.join(dir, 'replies.jsonl'), logger: quiet });
    p.on('Reserve', async (c) => { calls += 1; return Reply.ok({ reservationId: `r-${c.payload.orderId}` }); });
    await p.start();
    return p;
  };
  const replies = [];
  try {
    await producer.connect();
    await reader.connect();
    await reader.subscribe({ topic: 'order.replies', fromBeginning: true });
    await reader.run({ eachMessage: async ({ message }) => {
      const h = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.toString()]));
      replies.push({ headers: h, body: JSON.parse(message.value.toString()) });
    } });
    const send = (messageId, attempt) => producer.send({ topic: 'inventory.commands', messages: [{
      key: 's-1', value: JSON.stringify({ orderId: 'o-1' }), headers: {
        'saga-id': 's-1', 'saga-name': 'order', 'saga-version': '1', 'saga-step': 'reserve', 'saga-action': 'execute',
        'saga-command': 'Reserve', 'message-id': messageId, 'idempotency-key': 's-1/reserve/execute',
        'reply-to': 'order.replies', attempt: String(attempt),
      } }] });
    const awaitReplies = async (n) => {
      const until = Date.now() + DEADLINE_MS;
      while (replies.length < n) {
        assert.ok(Date.now() < until, `only ${replies.length} of ${n} replies within the deadline`);
        await new Promise((r) => setTimeout(r, 50));  // a condition poll
      }
    };

    let p = await serve();
    await send('m-1', 1);
    await awaitReplies(1);
    assert.strictEqual(replies[0].headers['in-reply-to'], 'm-1');
    assert.strictEqual(replies[0].headers.outcome, 'success');
    assert.deepStrictEqual(replies[0].body, { reservationId: 'r-o-1' });
    await p.stop();

    p = await serve();
    await send('m-2', 2);
    await awaitReplies(2);
    assert.strictEqual(replies[1].headers['in-reply-to'], 'm-2');
    assert.deepStrictEqual(replies[1].body, { reservationId: 'r-o-1' });
    assert.strictEqual(calls, 1, 'the restarted participant answered from its reply log');
    await p.stop();
  } finally {
    await reader.disconnect();
    await producer.disconnect();
    broker.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true });
  }
});

test('stop() resolves within its shutdown timeout when the brokers are gone', {
  skip: !process.env.SAGACTL_BIN && 'SAGACTL_BIN is not set (ctest sets it)', timeout: 120000,
}, async () => {
  const { broker, bootstrap } = await startBroker();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sagactl-node-stop-'));
  const warnings = [];
  const p = new Participant({ brokers: bootstrap, topics: 'inventory.commands', group: 'inventory-stop',
    replyLog: path.join(dir, 'replies.jsonl'), logger: { ...quiet, warn: (m) => warnings.push(m) } });
  try {
    await p.start();
  } finally {
    broker.kill('SIGKILL');
  }
  await new Promise((resolve) => broker.on('exit', resolve));
  const asked = Date.now();
  await p.stop(1000);
  // One second of shutdown timeout: not kafkajs's retries against a broker that is gone.
  assert.ok(Date.now() - asked < 3000, `stop took ${Date.now() - asked} ms`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('brokers that are not there are said once, and start() resolves when they come', {
  skip: !process.env.SAGACTL_BIN && 'SAGACTL_BIN is not set (ctest sets it)', timeout: 120000,
}, async () => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sagactl-node-late-'));
  const lines = [];
  const logger = { info: () => {}, warn: (m) => lines.push(m), error: (m) => lines.push(m) };
  const p = new Participant({ brokers: `127.0.0.1:${port}`, topics: 'inventory.commands', group: 'inventory-late',
    replyLog: path.join(dir, 'replies.jsonl'), logger });
  const started = p.start();
  const until = Date.now() + DEADLINE_MS;
  while (!lines.some((l) => l.includes('unreachable')) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));  // a condition poll: the first attempt failed
  }
  const { broker } = await startBroker(port);
  try {
    await started;
    const unreachable = lines.filter((l) => l.includes('unreachable'));
    assert.strictEqual(unreachable.length, 1, lines.join('\n'));
    assert.ok(unreachable[0].includes(`brokers 127.0.0.1:${port} unreachable`), unreachable[0]);
    assert.ok(!lines.some((l) => l.startsWith('kafkajs:')), `kafkajs's retries are not logged one by one: ${lines.join('\n')}`);
    await p.stop(2000);
  } finally {
    broker.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a handler that throws or returns no Reply leaves the consumer serving; a consumer that crashes for good calls onCrash', {
  skip: !process.env.SAGACTL_BIN && 'SAGACTL_BIN is not set (ctest sets it)', timeout: 120000,
}, async () => {
  const { broker, bootstrap } = await startBroker();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sagactl-node-bugs-'));
  const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const reader = kafka.consumer({ groupId: 'test-bugs-reader', maxWaitTimeInMs: 10 });
  const replies = [];
  const errors = [];
  const logger = { ...quiet, error: (m) => errors.push(m) };
  const send = (topic, messageId, attempt) => producer.send({ topic, messages: [{
    key: 's-1', value: '{}', headers: {
      'saga-id': 's-1', 'saga-step': 'reserve', 'saga-action': 'execute', 'saga-command': 'Reserve',
      'message-id': messageId, 'idempotency-key': 's-1/reserve/execute', 'reply-to': 'bugs.replies',
      attempt: String(attempt),
    } }] });
  const waitFor = async (what, done) => {
    const until = Date.now() + DEADLINE_MS;
    while (!done()) {
      assert.ok(Date.now() < until, `${what} within the deadline; errors: ${errors.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));  // a condition poll
    }
  };
  const buggy = new Participant({ brokers: bootstrap, topics: 'bugs.commands', group: 'bugs',
    replyLog: path.join(dir, 'bugs.jsonl'), logger });
  buggy.on('Reserve', async (c) => {
    if (c.attempt === 1) throw new Error('a bug');
    if (c.attempt === 2) return { reservationId: 'r-1' };  // forgot Reply.ok
    return Reply.ok({ reservationId: 'r-1' });
  });
  let crashed;
  const crashing = new Participant({ brokers: bootstrap, topics: 'crash.commands', group: 'crash',
    replyLog: path.join(dir, 'crash.jsonl'), logger, kafka: { retry: { retries: 0 } },
    replyCopies: () => { throw new Error('the service itself is broken'); },
    onCrash: (e) => { crashed = e; } });
  crashing.on('Reserve', () => Reply.ok());
  try {
    await producer.connect();
    await reader.connect();
    await reader.subscribe({ topic: 'bugs.replies', fromBeginning: true });
    await reader.run({ eachMessage: async ({ message }) => { replies.push(message.headers['in-reply-to'].toString()); } });
    await buggy.start();
    await crashing.start();
    for (const n of [1, 2, 3]) await send('bugs.commands', `m-${n}`, n);
    await waitFor('the third attempt is answered', () => replies.length > 0);
    assert.deepStrictEqual(replies, ['m-3']);
    assert.ok(errors.some((e) => e.includes('threw') && e.includes('a bug')), errors.join('\n'));
    assert.ok(errors.some((e) => e.includes('not a Reply')), errors.join('\n'));
    await send('crash.commands', 'c-1', 1);
    await waitFor('onCrash is called', () => crashed !== undefined);
    assert.match(crashed.message, /the service itself is broken/);
    assert.ok(errors.some((e) => e.includes('crashed and will not restart')), errors.join('\n'));
  } finally {
    await buggy.stop(2000);
    await crashing.stop(2000);
    await reader.disconnect();
    await producer.disconnect();
    broker.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
