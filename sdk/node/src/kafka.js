'use strict';
// A participant service over Kafka, on kafkajs.
//
//   const p = new Participant({ brokers: 'localhost:9092', topics: 'inventory.commands',
//                               replyLog: 'inventory.replies.jsonl' });
//   p.on('ReserveStock', async (cmd) => Reply.ok({ reservationId: 'r-' + cmd.sagaId }));
//   await p.start();   // ... await p.stop();
//
// Each batch of commands is handled in order; every reply is acknowledged by the brokers
// (acks=all) before the command's offset is committed, so a crash between the two repeats
// the command and the reply log answers it with the recorded reply. Membership is kafkajs's
// consumer group: replicas of a service share the partitions.
//
// A handler's bug never stops the service (see core.js); a consumer that crashes for good
// (kafkajs gives up on it) ends the process with status 1, so a supervisor restarts it,
// instead of leaving it up and consuming nothing.
const { Kafka, Partitioners, logLevel } = require('kafkajs');
const { ParticipantCore, FileReplyLog } = require('./core');
const { decodeHeaders, readCommand } = require('./protocol');

// How long the broker may hold an empty fetch. A saga step costs one round trip; kafkajs's
// default (5 s) would add up to that much to every step.
const DEFAULT_FETCH_WAIT_MS = 10;
// A vanished member of the consumer group loses its partitions after this.
const DEFAULT_SESSION_TIMEOUT_MS = 10000;
const HEARTBEAT_INTERVAL_MS = 1000;
// The longest stop() takes, whatever the brokers' state.
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10000;
// start() against brokers that do not answer: retried after this, doubling up to the maximum.
const CONNECT_FIRST_RETRY_MS = 500;
const CONNECT_MAX_RETRY_MS = 8000;

// kafkajs's own lines, through the participant's logger.
function kafkaLogger(logger) {
  return () => ({ level, log }) => {
    const line = `kafkajs: ${log.message}${log.broker ? ` (broker ${log.broker})` : ''}`;
    if (level === logLevel.ERROR) logger.error(line);
    else if (level === logLevel.WARN) logger.warn(line);
  };
}

class Participant {
  // options: brokers (string or array), topics (string or array), group (default
  // "<first topic>.participant"), replyLog (a path, or an object with find/put; default
  // "<first topic>.replies.jsonl"), fetchWaitMs, sessionTimeoutMs, clientId, logger,
  // kafka (extra kafkajs client options, e.g. ssl, sasl), handlerTimeoutMs (how long a handler
  // may run, default 30 s; null: no deadline), onCrash (error => ..., called when the consumer
  // crashed for good; default: log and exit the process with status 1), replyCopies (cmd => n: a
  // fault-injection hook for demos and tests: 0 runs the command but never answers, 2 answers twice).
  constructor(options) {
    const topics = [].concat(options.topics || []);
    if (topics.length === 0) throw new Error('a participant needs at least one command topic');
    if (!options.brokers) throw new Error('brokers is required (sagactl dev-broker prints one)');
    this.topics = topics;
    this.brokers = [].concat(options.brokers).join(',');
    this.logger = options.logger || console;
    this.group = options.group || `${topics[0]}.participant`;
    const replyLog = options.replyLog === undefined ? `${topics[0]}.replies.jsonl` : options.replyLog;
    this.replyLog = typeof replyLog === 'string' ? new FileReplyLog(replyLog) : replyLog;
    this.core = new ParticipantCore(this.replyLog, this.logger, { handlerTimeoutMs: options.handlerTimeoutMs });
    this.onCrash = options.onCrash || ((error) => {
      this.logger.error(`sagactl participant: exiting with status 1 so that a supervisor restarts the service ` +
        `(${error && error.message})`);
      process.exit(1);
    });
    this.replyCopies = options.replyCopies;
    const client = {
      clientId: options.clientId || this.group,
      brokers: [].concat(options.brokers).flatMap((b) => b.split(',')),
      ...(options.kafka || {}),
    };
    this.kafka = new Kafka({ logLevel: logLevel.WARN, logCreator: kafkaLogger(this.logger), ...client });
    // start()'s probe: one attempt per call, silent (start() says what is wrong itself).
    this.probe = new Kafka({ ...client, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    this.consumer = this.kafka.consumer({
      groupId: this.group,
      maxWaitTimeInMs: options.fetchWaitMs ?? DEFAULT_FETCH_WAIT_MS,
      sessionTimeout: options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      // A failure kafkajs's own retries did not cure ends the consumer (CRASH, restart false),
      // and onCrash the process: a restart from a clean state beats a consumer that loops.
      retry: { restartOnFailure: async () => false },
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        this.logger.warn(`sagactl participant: the consumer of ${this.topics} failed and restarts: ${payload.error.message}`);
        return;
      }
      if (this.stopping) return;
      this.logger.error(`sagactl participant: the consumer of ${this.topics} crashed and will not restart: ` +
        `${payload.error && payload.error.message}`);
      this.onCrash(payload.error);
    });
    // Not idempotent: kafkajs's idempotent producer needs a controller broker the development
    // broker does not name; duplicates of a reply are harmless (the orchestrator ignores them).
    // The Java client's partitioner (murmur2 of the key): a saga's replies stay in one partition.
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  on(command, handler) {
    this.core.on(command, handler);
    return this;
  }

  // Resolves once the participant consumes. Brokers that do not answer are said once, naming
  // them, and retried with backoff until they answer; rejects only if stop() comes first.
  async start() {
    await this.awaitBrokers();
    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (batch) => this.serve(batch),
    });
  }

  // Until the probe client (no retries of its own) connects: one attempt per backoff step.
  async awaitBrokers() {
    const connect = async () => {
      const admin = this.probe.admin();
      await admin.connect();
      await admin.disconnect();
    };
    let wait = CONNECT_FIRST_RETRY_MS;
    let said = false;
    const began = Date.now();
    for (;;) {
      try {
        await connect();
        if (said) this.logger.warn(`sagactl participant: brokers ${this.brokers} answer (after ${Date.now() - began} ms)`);
        return;
      } catch (e) {
        if (this.stopping) throw new Error(`stopped before brokers ${this.brokers} answered`);
        if (!said) {
          this.logger.warn(`sagactl participant: brokers ${this.brokers} unreachable (${e.message}); retrying until they answer`);
          said = true;
        }
        await new Promise((resolve) => { setTimeout(resolve, wait); });
        wait = Math.min(wait * 2, CONNECT_MAX_RETRY_MS);
      }
    }
  }

  // Resolves within shutdownTimeoutMs whatever the brokers' state: a disconnect that waits for
  // an unreachable cluster is left behind (logged); what was not committed is answered again
  // from the reply log by the next run.
  async stop(shutdownTimeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS) {
    this.stopping = true;
    let timer;
    const deadline = new Promise((resolve) => { timer = setTimeout(() => resolve(false), shutdownTimeoutMs); });
    const disconnected = (async () => {
      await this.consumer.disconnect();
      await this.producer.disconnect();
      return true;
    })().catch((e) => { this.logger.warn(`sagactl participant: disconnecting failed: ${e.message}`); return true; });
    const inTime = await Promise.race([disconnected, deadline]);
    clearTimeout(timer);
    if (!inTime) {
      this.logger.warn(`sagactl participant: the Kafka clients did not disconnect within ${shutdownTimeoutMs} ms ` +
                   `(brokers ${this.brokers} unreachable?); not waiting for them`);
    }
    if (this.replyLog.close) this.replyLog.close();
  }

  async serve({ batch, resolveOffset, heartbeat, isRunning, isStale }) {
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      const reply = await this.core.handle(message);
      if (reply !== null) {
        let copies = 1;
        if (this.replyCopies) copies = this.replyCopies(readCommand(decodeHeaders(message.headers), message.value));
        const { topic, ...m } = reply;
        // acks=all (-1): the brokers have every copy before the offset moves.
        if (copies > 0) await this.producer.send({ topic, acks: -1, messages: Array(copies).fill(m) });
      }
      resolveOffset(message.offset);
      await this.consumer.commitOffsets([{
        topic: batch.topic, partition: batch.partition, offset: (BigInt(message.offset) + 1n).toString(),
      }]);
      await heartbeat();
    }
  }
}

module.exports = { Participant };
