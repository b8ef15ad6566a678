'use strict';
// The participant's guarantees, independent of Kafka (docs/protocol.md, "Idempotency"):
//  - a repeated command gets the recorded reply again; the handler runs once per idempotency
//    key. Failure replies are not recorded: a failed command did nothing, so a retry runs it;
//  - a compensation for a command never executed here is an empty success without calling the
//    handler, and the command, should it still arrive, is then refused;
//  - a handler's bug is silence: one that throws (or rejects), returns something that is not a
//    Reply, or runs past handlerTimeoutMs gets no reply and nothing is recorded (logged with the
//    saga, step and idempotency key); the orchestrator's timeout and retry take over, as for a
//    crashed service, and the next command is served. An overdue handler is left to finish: a
//    success it returns then is recorded, so the next attempt is answered from the reply log;
//  - a command received after its expires-at is skipped unanswered: the orchestrator has timed
//    that attempt out already, so a consumer reading old commands again (a new consumer group)
//    never repeats finished business.
const fs = require('node:fs');
const { ProtocolError, header, readCommand, executeKey, Reply, replyMessage, replyPartition, decodeHeaders } = require('./protocol');

const REFUSED_AFTER_UNDO = 'compensated before it executed';
// How long a handler may run before its command is left unanswered.
const DEFAULT_HANDLER_TIMEOUT_MS = 30000;

class MemoryReplyLog {
  constructor() { this.replies = new Map(); }
  find(key) { return this.replies.get(key); }
  put(key, reply) { this.replies.set(key, reply); }
  close() {}
}

// A reply log in a file of JSON lines, fsync'd before the reply goes out, loaded at start.
// A torn last line (a crash mid-write) is dropped: its reply was never sent.
class FileReplyLog extends MemoryReplyLog {
  constructor(path) {
    super();
    this.path = path;
    let text = '';
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    let good = 0;
    for (const line of text.split('\n')) {
      if (line === '') { good += 1; continue; }
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        break;  // the torn tail
      }
      this.replies.set(entry.k, { success: entry.s, body: entry.b });
      good += line.length + 1;
    }
    this.fd = fs.openSync(path, 'a');
    if (good < Buffer.byteLength(text)) fs.ftruncateSync(this.fd, Buffer.byteLength(text.slice(0, good)));
  }

  put(key, reply) {
    fs.writeSync(this.fd, JSON.stringify({ k: key, s: reply.success, b: reply.body }) + '\n');
    fs.fsyncSync(this.fd);
    super.put(key, reply);
  }

  close() { fs.closeSync(this.fd); }
}

class ParticipantCore {
  // options: handlerTimeoutMs (default 30 s; null: no deadline), now (() => ms since the epoch,
  // the clock expires-at is judged by).
  constructor(replyLog = new MemoryReplyLog(), logger = console, options = {}) {
    this.replyLog = replyLog;
    this.logger = logger;
    this.handlers = new Map();
    this.handlerTimeoutMs = options.handlerTimeoutMs === undefined ? DEFAULT_HANDLER_TIMEOUT_MS : options.handlerTimeoutMs;
    this.now = options.now || Date.now;
    this.overdue = new Set();  // keys whose handler runs past its deadline
  }

  on(command, handler) { this.handlers.set(command, handler); }

  // The reply message for a command message ({headers, key, value}), or null (not a command,
  // or the handler threw).
  async handle(message) {
    const headers = decodeHeaders(message.headers);
    let cmd;
    try {
      cmd = readCommand(headers, message.value);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.logger.warn(`ignoring a message that is not a command: ${e.message}`);
      return null;
    }
    if (cmd.expiresAt !== undefined && this.now() > cmd.expiresAt) {
      (this.logger.info || this.logger.warn).call(this.logger, `sagactl participant: saga=${cmd.sagaId} step=${cmd.step} key=${cmd.idempotencyKey}: skipped, ` +
        `it expired at ${headers[header.expiresAt]} (${this.now() - cmd.expiresAt} ms ago); the orchestrator has timed ` +
        'that attempt out');
      return null;
    }
    const reply = await this.decide(cmd);
    return reply === null ? null : replyMessage(headers, message.key, reply, replyPartition(message.headers));
  }

  async decide(cmd) {
    const recorded = this.replyLog.find(cmd.idempotencyKey);
    if (recorded !== undefined) return recorded;
    let reply;
    const doKey = executeKey(cmd.sagaId, cmd.step);
    if (cmd.action === 'compensate' && this.replyLog.find(doKey) === undefined) {
      // Never executed here: nothing to undo. Refuse the command should it still arrive.
      this.replyLog.put(doKey, Reply.failure(REFUSED_AFTER_UNDO));
      reply = Reply.ok();
    } else {
      const handler = this.handlers.get(cmd.command);
      if (handler === undefined) {
        reply = Reply.failure(`no handler for command "${cmd.command}"`);
      } else {
        reply = await this.run(handler, cmd);
      }
    }
    if (reply !== null && reply.success) this.replyLog.put(cmd.idempotencyKey, reply);
    return reply;
  }

  // The handler's reply, or null (logged) when it threw, returned something else, or overran.
  async run(handler, cmd) {
    const where = `sagactl participant: saga=${cmd.sagaId} step=${cmd.step} key=${cmd.idempotencyKey}`;
    if (this.overdue.has(cmd.idempotencyKey)) {
      this.logger.warn(`${where}: the handler of an earlier attempt is still running past its deadline; not replying`);
      return null;
    }
    const call = (async () => handler(cmd))();
    let result;
    try {
      result = await this.within(call, cmd, where);
    } catch (e) {
      this.logger.error(`${where}: the handler for ${cmd.command} threw; not replying (the orchestrator retries after ` +
        `the attempt's timeout): ${e && e.stack ? e.stack : e}`);
      return null;
    }
    if (result === OVERDUE) return null;
    if (!isReply(result)) {
      this.logger.error(`${where}: the handler for ${cmd.command} returned ${describe(result)}, not a Reply ` +
        '(return Reply.ok({...}) or Reply.failure(reason)); not replying');
      return null;
    }
    return result;
  }

  // The call's result, or OVERDUE once handlerTimeoutMs passed (the call is then left to finish).
  within(call, cmd, where) {
    if (this.handlerTimeoutMs === null) return call;
    let timer;
    const overdue = new Promise((resolve) => { timer = setTimeout(() => resolve(OVERDUE), this.handlerTimeoutMs); });
    return Promise.race([call, overdue]).then((result) => {
      clearTimeout(timer);
      if (result === OVERDUE) {
        this.logger.error(`${where}: the handler for ${cmd.command} did not return within ${this.handlerTimeoutMs} ms; ` +
          'not replying (it is left to finish; a success it returns later answers the next attempt)');
        this.overdue.add(cmd.idempotencyKey);
        call.then((late) => {
          if (isReply(late) && late.success) this.replyLog.put(cmd.idempotencyKey, late);
          this.logger.warn(`${where}: the overdue handler for ${cmd.command} finished` +
            `${isReply(late) && late.success ? '; its success is recorded for the next attempt' : ''}`);
        }, () => {}).finally(() => this.overdue.delete(cmd.idempotencyKey));
      }
      return result;
    }, (e) => { clearTimeout(timer); throw e; });
  }
}

const OVERDUE = Symbol('overdue');

function isReply(value) {
  return value !== null && typeof value === 'object' && typeof value.success === 'boolean' &&
    value.body !== null && typeof value.body === 'object' && !Array.isArray(value.body);
}

function describe(value) {
  if (value === undefined || value === null) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? `an object without success/body (${JSON.stringify(value).slice(0, 80)})` : `a ${typeof value}`;
}

module.exports = { MemoryReplyLog, FileReplyLog, ParticipantCore, REFUSED_AFTER_UNDO, DEFAULT_HANDLER_TIMEOUT_MS };
