'use strict';
// The sagactl wire protocol as a participant sees it (docs/protocol.md): reading a command's
// headers and building the reply. Pure functions, no Kafka; the header names are the contract.

const header = Object.freeze({
  sagaId: 'saga-id',
  sagaName: 'saga-name',
  sagaVersion: 'saga-version',
  step: 'saga-step',
  action: 'saga-action',
  command: 'saga-command',
  messageId: 'message-id',
  idempotencyKey: 'idempotency-key',
  replyTo: 'reply-to',
  attempt: 'attempt',
  traceparent: 'traceparent',
  // When the orchestrator gives the attempt up (RFC 3339 UTC): a command received later is skipped.
  expiresAt: 'expires-at',
  // The partition of reply-to the reply goes to (decimal), set by a cluster of orchestrators;
  // Spring Kafka's name for the same (a 4-byte big-endian int) is accepted too.
  replyPartition: 'reply-partition',
  springReplyPartition: 'kafka_replyPartition',
  inReplyTo: 'in-reply-to',
  outcome: 'outcome',
});

const REQUIRED = [header.sagaId, header.step, header.action, header.command, header.idempotencyKey, header.replyTo,
  header.messageId];

class ProtocolError extends Error {}

// Kafka headers (values as Buffers or strings) as an object of strings.
function decodeHeaders(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers || {})) {
    const v = Array.isArray(value) ? value[value.length - 1] : value;
    out[name] = v === undefined || v === null ? '' : v.toString('utf8');
  }
  return out;
}

const MAX_PARTITION = 2 ** 31 - 1;

function decimalPartition(text) {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return value <= MAX_PARTITION ? value : undefined;
}

// The partition a command asks its reply to go to, from its raw Kafka headers:
// reply-partition (decimal), else kafka_replyPartition (4 bytes big-endian, or decimal);
// undefined when absent or not a partition number (the reply then goes by key).
function replyPartition(rawHeaders) {
  const last = (v) => (Array.isArray(v) ? v[v.length - 1] : v);
  const raw = rawHeaders || {};
  const ours = last(raw[header.replyPartition]);
  if (ours !== undefined && ours !== null) return decimalPartition(ours.toString('utf8'));
  const spring = last(raw[header.springReplyPartition]);
  if (spring === undefined || spring === null) return undefined;
  if (Buffer.isBuffer(spring) && spring.length === 4) {
    const value = spring.readUInt32BE(0);
    return value <= MAX_PARTITION ? value : undefined;
  }
  return decimalPartition(spring.toString('utf8'));
}

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?[Zz]$/;

// An RFC 3339 UTC time ("2026-12-05T09:14:03.250Z") in ms since the epoch; undefined if malformed.
function parseTime(text) {
  const m = RFC3339_UTC.exec(text || '');
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const millis = Number((m[7] || '0').slice(0, 3).padEnd(3, '0'));
  return Date.UTC(year, month - 1, day, hour, minute, second, millis);
}

// A command as the handler sees it; throws ProtocolError saying what is missing or malformed.
function readCommand(headers, value) {
  for (const name of REQUIRED) {
    if (!headers[name]) throw new ProtocolError(`missing header "${name}"`);
  }
  const action = headers[header.action];
  if (action !== 'execute' && action !== 'compensate') {
    throw new ProtocolError(`header "${header.action}" is "${action}"; it must be execute or compensate`);
  }
  let payload = {};
  if (value && value.length > 0) {
    try {
      payload = JSON.parse(value.toString('utf8'));
    } catch (e) {
      throw new ProtocolError(`the payload is not JSON: ${e.message}`);
    }
  }
  const attempt = Number(headers[header.attempt] || '0');
  if (!Number.isInteger(attempt)) {
    throw new ProtocolError(`header "${header.attempt}" is "${headers[header.attempt]}"; it must be a number`);
  }
  return Object.freeze({
    sagaId: headers[header.sagaId],
    saga: headers[header.sagaName] || '',
    step: headers[header.step],
    action,
    command: headers[header.command],
    idempotencyKey: headers[header.idempotencyKey],
    attempt,
    payload,
    expiresAt: parseTime(headers[header.expiresAt]),  // ms since the epoch; undefined: no deadline
  });
}

// The idempotency key of a step's execute command (the orchestrator's format).
function executeKey(sagaId, step) {
  return `${sagaId}/${step}/execute`;
}

const Reply = Object.freeze({
  ok: (body = {}) => ({ success: true, body }),
  failure: (error) => ({ success: false, body: { error: String(error) } }),
});

// The reply message to a command: to its reply-to topic (on `partition`, the command's
// replyPartition, when defined), same key, the correlation headers.
function replyMessage(headers, key, reply, partition) {
  const out = {
    [header.sagaId]: headers[header.sagaId],
    [header.step]: headers[header.step],
    [header.action]: headers[header.action],
    [header.inReplyTo]: headers[header.messageId],
  };
  if (headers[header.traceparent]) out[header.traceparent] = headers[header.traceparent];
  out[header.outcome] = reply.success ? 'success' : 'failure';
  const message = { topic: headers[header.replyTo], key, value: JSON.stringify(reply.body), headers: out };
  if (partition !== undefined) message.partition = partition;
  return message;
}

module.exports = { header, ProtocolError, decodeHeaders, parseTime, readCommand, executeKey, Reply, replyMessage, replyPartition };
