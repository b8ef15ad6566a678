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

// The reply message to a command: to its reply-to topic, same key, the correlation headers.
function replyMessage(headers, key, reply) {
  const out = {
    [header.sagaId]: headers[header.sagaId],
    [header.step]: headers[header.step],
    [header.action]: headers[header.action],
    [header.inReplyTo]: headers[header.messageId],
  };
  if (headers[header.traceparent]) out[header.traceparent] = headers[header.traceparent];
  out[header.outcome] = reply.success ? 'success' : 'failure';
  return { topic: headers[header.replyTo], key, value: JSON.stringify(reply.body), headers: out };
}

module.exports = { header, ProtocolError, decodeHeaders, readCommand, executeKey, Reply, replyMessage };
