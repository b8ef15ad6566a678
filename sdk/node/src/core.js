'use strict';
// The participant's guarantees, independent of Kafka (docs/protocol.md, "Idempotency"):
//  - a repeated command gets the recorded reply again; the handler runs once per idempotency
//    key. Failure replies are not recorded: a failed command did nothing, so a retry runs it;
//  - a compensation for a command never executed here is an empty success without calling the
//    handler, and the command, should it still arrive, is then refused;
//  - a handler that throws (or rejects) gets no reply and nothing is recorded: the
//    orchestrator's timeout and retry take over, as for a crashed service.
const fs = require('node:fs');
const { ProtocolError, readCommand, executeKey, Reply, replyMessage, replyPartition, decodeHeaders } = require('./protocol');

const REFUSED_AFTER_UNDO = 'compensated before it executed';

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
  constructor(replyLog = new MemoryReplyLog(), logger = console) {
    this.replyLog = replyLog;
    this.logger = logger;
    this.handlers = new Map();
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
        try {
          reply = await handler(cmd);
        } catch (e) {
          this.logger.error(`saga=${cmd.sagaId} step=${cmd.step} attempt=${cmd.attempt}: handler for ${cmd.command} ` +
            `threw, not replying: ${e && e.message}`);
          return null;
        }
        if (!reply || typeof reply.success !== 'boolean') {
          throw new TypeError(`the handler for ${cmd.command} returned ${JSON.stringify(reply)}, not Reply.ok() or Reply.failure()`);
        }
      }
    }
    if (reply.success) this.replyLog.put(cmd.idempotencyKey, reply);
    return reply;
  }
}

module.exports = { MemoryReplyLog, FileReplyLog, ParticipantCore, REFUSED_AFTER_UNDO };
