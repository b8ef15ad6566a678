"""A participant service over Kafka, on confluent-kafka (librdkafka).

    p = Participant("localhost:9092", "inventory.commands", reply_log="inventory.replies.db")

    @p.on("ReserveStock")
    def reserve(cmd: Command) -> Reply:
        return Reply.ok({"reservationId": "r-" + cmd.saga_id})

    p.run()  # until p.stop() (e.g. from a signal handler)

Each batch of commands is handled in order, the replies are produced and their delivery
awaited, and only then are the commands' offsets committed: a crash between the two repeats
the commands, and the reply log answers them with the recorded replies.

Threading: run() consumes on the calling thread; handlers run on a worker thread (one at a
time, in order; see handler_timeout); stop() may be called from any thread or a signal handler.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

from confluent_kafka import OFFSET_BEGINNING, OFFSET_STORED, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from .core import DEFAULT_HANDLER_TIMEOUT_SECONDS, Handler, ParticipantCore, ReplyLog, SqliteReplyLog
from .protocol import Command, OutgoingReply, decode_headers, read_command

log = logging.getLogger("sagactl_participant")

#: Commands handed to the handlers per poll.
BATCH_SIZE = 256
#: How long one poll waits for commands, seconds (stop() is noticed within this).
POLL_SECONDS = 0.1
#: How long the broker may hold an empty fetch. librdkafka's default (500 ms) adds up to that
#: much to every step of every saga; a saga step costs one round trip, so keep this small.
DEFAULT_FETCH_WAIT_MS = 10
#: A vanished member of a consumer group loses its partitions after this.
DEFAULT_SESSION_TIMEOUT_MS = 10_000
#: How long to wait for replies to be delivered before trying the failed ones again, seconds.
DELIVERY_WAIT_SECONDS = 5.0
#: How long to wait for topic metadata at start, seconds.
METADATA_WAIT_SECONDS = 10.0
#: How often an idle participant in assign mode checks that the brokers are still the same
#: cluster, seconds (a development broker that restarted has new, empty logs).
CLUSTER_CHECK_SECONDS = 2.0
#: How long stop() waits for the last offsets to be committed, seconds.
FINAL_COMMIT_SECONDS = 2.0
#: The longest run() takes to return after stop(), seconds, whatever the brokers' state:
#: librdkafka's own close waits for an unreachable cluster for minutes.
DEFAULT_SHUTDOWN_SECONDS = 10.0
#: Waiting for brokers that do not answer at start: the first wait and the longest, seconds.
CONNECT_FIRST_WAIT_SECONDS = 1.0
CONNECT_MAX_WAIT_SECONDS = 8.0
#: After a failed offset commit (no group coordinator yet, a broker restart), try again after this, seconds.
COMMIT_RETRY_SECONDS = 1.0


class Participant:
    """Serves commands from `topics`, one handler per command name.

    consume="group" (default) joins the consumer group `group` (cooperative-sticky; pass
    `instance_id` for static membership, so a restart on a real Kafka keeps its partitions);
    replicas of a service share the partitions. consume="assign" takes every partition of the
    topics directly (one instance per service; restarts consume at once, nothing to wait out),
    still committing offsets to `group`.

    handler_timeout: how long a handler may run, seconds (None: no deadline, handlers then run
    on run()'s thread); one that overruns, raises or returns something that is not a Reply is
    logged and its command left unanswered (docs/protocol.md, "A handler's bug is silence too").

    reply_copies(command) -> int is a fault-injection hook for demos and tests: how many
    copies of the reply go out (0: run the command but never answer; 2: answer twice).
    """

    def __init__(
        self,
        brokers: str,
        topics: Union[str, Iterable[str]],
        *,
        group: Optional[str] = None,
        reply_log: Union[str, ReplyLog, None] = None,
        consume: str = "group",
        instance_id: Optional[str] = None,
        fetch_wait_ms: int = DEFAULT_FETCH_WAIT_MS,
        warm_topics: Iterable[str] = (),
        properties: Optional[Dict[str, str]] = None,
        reply_copies: Optional[Callable[[Command], int]] = None,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_SECONDS,
        handler_timeout: Optional[float] = DEFAULT_HANDLER_TIMEOUT_SECONDS,
    ) -> None:
        self.topics: List[str] = [topics] if isinstance(topics, str) else list(topics)
        if not self.topics:
            raise ValueError("a participant needs at least one command topic")
        if consume not in ("group", "assign"):
            raise ValueError(f'consume is "{consume}"; it must be group or assign')
        self.group = group or f"{self.topics[0]}.participant"
        if reply_log is None:
            reply_log = f"{self.topics[0]}.replies.db"
        self._log = SqliteReplyLog(reply_log) if isinstance(reply_log, str) else reply_log
        self.core = ParticipantCore(self._log, handler_timeout=handler_timeout)
        self._consume_mode = consume
        self._shutdown_timeout = shutdown_timeout
        self.brokers = brokers
        self._reply_copies = reply_copies
        self._warm_topics = list(warm_topics)
        self._stop = threading.Event()
        # Offsets of answered commands not yet committed: committed asynchronously, and kept
        # (to be committed again) while the group coordinator cannot take them.
        self._uncommitted: Dict[Tuple[str, int], int] = {}
        self._commit_in_flight = False
        self._commit_retry_at = 0.0
        self._assignment: List[TopicPartition] = []
        self._cluster_id: Optional[str] = None
        self._cluster_check_at = 0.0
        common = {"bootstrap.servers": brokers, **(properties or {})}
        consumer_config = {
            **common,
            "group.id": self.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": fetch_wait_ms,
            "session.timeout.ms": DEFAULT_SESSION_TIMEOUT_MS,
            "partition.assignment.strategy": "cooperative-sticky",
            "on_commit": self._committed,
        }
        if instance_id:
            consumer_config["group.instance.id"] = instance_id
        # Bad properties are refused here, before anything runs (KafkaException names them).
        self._consumer_config = consumer_config
        self._consumer = Consumer(consumer_config)
        self._producer = Producer({**common, "enable.idempotence": True, "acks": "all", "linger.ms": 1})

    def on(self, command: str, handler: Optional[Handler] = None):
        """Registers `handler` for `command`; without a handler, a decorator."""
        if handler is not None:
            self.core.on(command, handler)
            return handler

        def register(fn: Handler) -> Handler:
            self.core.on(command, fn)
            return fn

        return register

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Serves until stop(); raises KafkaException on a fatal client error."""
        try:
            self._start()
            while not self._stop.is_set():
                # consume() waits for a full batch or its timeout: wait for the first message
                # with poll(), then take what else is already there.
                first = self._consumer.poll(POLL_SECONDS)
                if first is not None:
                    self._serve([first] + self._consumer.consume(num_messages=BATCH_SIZE - 1, timeout=0))
                else:
                    self._check_cluster()
                self._commit()
        finally:
            self._shut_down()

    def _shut_down(self) -> None:
        """Commits, closes and flushes against one deadline (shutdown_timeout), then lets go:
        what was not committed is answered again from the reply log by the next run."""
        deadline = time.monotonic() + self._shutdown_timeout
        self._final_commit()
        closer = threading.Thread(target=self._consumer.close, name="consumer-close", daemon=True)
        closer.start()
        closer.join(max(0.0, deadline - time.monotonic()))
        if closer.is_alive():
            log.warning("the consumer did not close within %.1fs (brokers %s unreachable?); not waiting for it",
                        self._shutdown_timeout, self.brokers)
        unsent = self._producer.flush(max(0.0, deadline - time.monotonic()))
        if unsent:
            log.warning("%d reply(ies) left undelivered at shutdown; their commands are answered again "
                        "from the reply log after a restart", unsent)

    # -- internals ---------------------------------------------------------------------

    def _await_brokers(self) -> bool:
        """Waits until the brokers answer, backing off; says so once, naming them (not a traceback
        after METADATA_WAIT_SECONDS). False when stop() came first."""
        wait, said, began = CONNECT_FIRST_WAIT_SECONDS, False, time.monotonic()
        while not self._stop.is_set():
            try:
                for topic in self.topics + self._warm_topics:
                    # Fetches the topic's metadata now, so the first reply does not wait for it.
                    self._producer.list_topics(topic, timeout=wait)
                if said:
                    log.info("brokers %s answer (after %.1fs)", self.brokers, time.monotonic() - began)
                return True
            except KafkaException as e:
                if not said:
                    log.warning("brokers %s unreachable (%s); retrying until they answer", self.brokers,
                                e.args[0].str() if e.args and hasattr(e.args[0], "str") else e)
                    said = True
                wait = min(wait * 2, CONNECT_MAX_WAIT_SECONDS)
        return False

    def _start(self) -> None:
        if not self._await_brokers():
            return
        if self._consume_mode == "group":
            self._consumer.subscribe(self.topics)
            return
        assignment = []
        for topic in self.topics:
            meta = self._consumer.list_topics(topic, timeout=METADATA_WAIT_SECONDS).topics[topic]
            if meta.error is not None:
                raise KafkaException(meta.error)
            assignment += [TopicPartition(topic, p, OFFSET_STORED) for p in sorted(meta.partitions)]
        self._assignment = assignment
        self._consumer.assign(assignment)
        self._cluster_id = self._consumer.list_topics(timeout=METADATA_WAIT_SECONDS).cluster_id
        self._cluster_check_at = time.monotonic() + CLUSTER_CHECK_SECONDS

    def _check_cluster(self) -> None:
        """Assign mode: after the brokers were replaced by a new, empty cluster (a development
        broker restarted), this consumer's positions point past the new logs' ends, and the new
        cluster has no committed offsets: read the partitions again from their beginning. A group member
        needs none of this: joining the new cluster's group assigns it afresh."""
        if not self._assignment or time.monotonic() < self._cluster_check_at:
            return
        self._cluster_check_at = time.monotonic() + CLUSTER_CHECK_SECONDS
        try:
            cluster_id = self._consumer.list_topics(timeout=POLL_SECONDS).cluster_id
        except KafkaException:
            return  # no broker reachable now; checked again later
        if cluster_id and self._cluster_id and cluster_id != self._cluster_id:
            log.warning("the brokers are a new cluster (%s, was %s): a development broker restarted? Reading "
                        "the command topics again from their beginning", cluster_id, self._cluster_id)
            self._uncommitted.clear()
            self._commit_in_flight = False
            # A new client: librdkafka 2.0's keeps looking for the old cluster's group coordinator.
            # Closing the old one waits for that coordinator, so it is closed aside.
            old, self._consumer = self._consumer, Consumer(self._consumer_config)
            threading.Thread(target=old.close, name="old-consumer-close", daemon=True).start()
            self._consumer.assign([TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in self._assignment])
        if cluster_id:
            self._cluster_id = cluster_id

    def _serve(self, messages) -> None:
        outgoing: List[OutgoingReply] = []
        commit: Dict[Tuple[str, int], int] = {}
        for m in messages:
            if m.error() is not None:
                if m.error().fatal():
                    raise KafkaException(m.error())
                if m.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer: %s", m.error())
                continue
            commit[(m.topic(), m.partition())] = m.offset() + 1
            headers = decode_headers(m.headers())
            reply = self.core.handle(headers, m.key(), m.value())
            if reply is None:
                continue
            copies = 1
            if self._reply_copies is not None:
                copies = self._reply_copies(read_command(headers, m.value()))
            outgoing += [reply] * copies
        if not self._deliver(outgoing):
            # Stopping before every reply was delivered: the offsets stay where they were, so
            # these commands come again after the restart and are answered from the reply log.
            return
        self._uncommitted.update(commit)

    def _commit(self) -> None:
        if not self._uncommitted or self._commit_in_flight or time.monotonic() < self._commit_retry_at:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._uncommitted.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
            self._commit_in_flight = True
        except KafkaException as e:
            log.warning("cannot commit offsets yet (the commands will be answered again from the reply log "
                        "if this process restarts first): %s", e)
            self._commit_retry_at = time.monotonic() + COMMIT_RETRY_SECONDS

    def _committed(self, err, partitions) -> None:
        """on_commit: runs inside poll(), on run()'s thread."""
        self._commit_in_flight = False
        if err is not None:
            log.warning("offset commit failed, trying again: %s", err)
            self._commit_retry_at = time.monotonic() + COMMIT_RETRY_SECONDS
            return
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if tp.error is None and self._uncommitted.get(key, -1) <= tp.offset:
                self._uncommitted.pop(key, None)

    def _final_commit(self) -> None:
        """Commits what was answered, waiting at most FINAL_COMMIT_SECONDS (a broker may be gone)."""
        until = time.monotonic() + FINAL_COMMIT_SECONDS
        self._commit_retry_at = 0.0
        while self._uncommitted and time.monotonic() < until:
            self._commit()
            self._consumer.poll(POLL_SECONDS)  # serves the commit callback; a message now is read again later
        if self._uncommitted:
            log.warning("offsets of %d partition(s) not committed at stop: those commands will be answered "
                        "again from the reply log after a restart", len(self._uncommitted))

    def _deliver(self, replies: List[OutgoingReply]) -> bool:
        """Produces the replies; True once the brokers have every one, False if stopped first."""
        pending = replies
        while pending:
            failed: List[OutgoingReply] = []
            delivered = [0]
            for r in pending:
                def report(err, _msg, r=r):
                    if err is None:
                        delivered[0] += 1
                    else:
                        log.warning("reply to %s not delivered, sending again: %s", r.topic, err)
                        failed.append(r)

                where = {} if r.partition is None else {"partition": r.partition}
                self._producer.produce(r.topic, value=r.value, key=r.key, headers=r.headers, on_delivery=report,
                                       **where)
            while self._producer.flush(DELIVERY_WAIT_SECONDS) > 0:
                if self._stop.is_set():
                    return False
                log.warning("replies are still waiting for the brokers")
            if self._stop.is_set() and delivered[0] < len(pending):
                return False
            pending = failed
        return True
