#!/usr/bin/env node
'use strict';
// The order saga's participant services in Node: inventory, payments, billing, orders,
// shipping. The same flags as the C++ `order-services`:
//
//   order-services.js --brokers HOST:PORT [--service all|inventory|payments|billing|orders|shipping]
//                     [--fail COMMAND]... [--silent COMMAND]... [--twice COMMAND]...
//                     [--decline-over AMOUNT] [--state-dir DIR] [--group-prefix P]
//
//   --fail C          answer C with a business failure
//   --silent C        run C but never answer (the orchestrator times out and retries)
//   --twice C         answer C twice (the orchestrator ignores the duplicate)
//   --decline-over N  payments declines a charge above N (default 1000)
//   --group-prefix P  consumer groups P<service>-service (a new prefix reads the topics from the start)
//
// Each service keeps its replies by idempotency key in DIR/<topic>.replies.jsonl. Runs until
// SIGINT/SIGTERM.
const path = require('node:path');
const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { Participant, Reply } = require('..');

const SERVICES = {
  inventory: ['inventory.commands', ['ReserveStock', 'ReleaseStock']],
  payments: ['payments.commands', ['ChargeCard', 'RefundCard']],
  billing: ['billing.commands', ['CreateInvoice', 'VoidInvoice']],
  orders: ['orders.commands', ['ConfirmOrder']],
  shipping: ['shipping.commands', ['Ship']],
};
const USAGE = 'usage: order-services.js --brokers HOST:PORT [--service NAME] [--fail CMD] [--silent CMD] ' +
  '[--twice CMD] [--decline-over N] [--state-dir DIR] [--group-prefix P]';

function usage(why) {
  console.error(`order-services: ${why}\n${USAGE}`);
  process.exit(1);
}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        brokers: { type: 'string' },
        service: { type: 'string', default: 'all' },
        fail: { type: 'string', multiple: true, default: [] },
        silent: { type: 'string', multiple: true, default: [] },
        twice: { type: 'string', multiple: true, default: [] },
        'decline-over': { type: 'string', default: '1000' },
        'state-dir': { type: 'string', default: '.' },
        'group-prefix': { type: 'string', default: '' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    usage(e.message);
  }
  if (parsed.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!parsed.brokers) usage('--brokers is required (sagactl dev-broker prints one)');
  if (parsed.service !== 'all' && !SERVICES[parsed.service]) usage(`no service named ${parsed.service}`);
  const declineOver = Number(parsed['decline-over']);
  if (!Number.isFinite(declineOver)) usage(`--decline-over ${parsed['decline-over']} is not a number`);
  return { ...parsed, declineOver };
}

function handler(name, command, args) {
  return async (c) => {
    console.error(`order-services: ${name} ${command} for saga ${c.sagaId} (attempt ${c.attempt})`);
    if (args.fail.includes(command)) return Reply.failure(`${command} refused (--fail)`);
    if (command === 'ChargeCard') {
      const amount = c.payload && c.payload.amount;
      if (typeof amount === 'number' && amount > args.declineOver) {
        return Reply.failure(`card declined: amount over ${args.declineOver}`);
      }
      return Reply.ok({ chargeId: `ch-${c.sagaId}` });
    }
    if (command === 'ReserveStock') return Reply.ok({ reservationId: `r-${c.sagaId}` });
    return Reply.ok();
  };
}

async function main() {
  const args = parse(process.argv.slice(2));
  fs.mkdirSync(args['state-dir'], { recursive: true });
  const copies = (c) => (args.silent.includes(c.command) ? 0 : args.twice.includes(c.command) ? 2 : 1);
  const running = [];
  for (const [name, [topic, commands]] of Object.entries(SERVICES)) {
    if (args.service !== 'all' && args.service !== name) continue;
    const p = new Participant({
      brokers: args.brokers,
      topics: topic,
      group: `${args['group-prefix']}${name}-service`,
      replyLog: path.join(args['state-dir'], `${topic}.replies.jsonl`),
      replyCopies: copies,
    });
    for (const command of commands) p.on(command, handler(name, command, args));
    running.push(p.start().then(() => console.error(`order-services: ${name} serving ${topic}`)).then(() => p));
  }
  const participants = await Promise.all(running);
  const stop = async () => {
    await Promise.all(participants.map((p) => p.stop()));
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  console.error(`order-services: ${e.message}`);
  process.exit(1);
});
