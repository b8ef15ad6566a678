"""The Kafka participant against a real Kafka-protocol broker (`sagactl dev-broker`).

Needs SAGACTL_BIN (the built sagactl); ctest sets it.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402

from sagactl_participant import Reply  # noqa: E402
from sagactl_participant.kafka import Participant  # noqa: E402

DEADLINE_SECONDS = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(port=0):
    binary = os.environ.get("SAGACTL_BIN")
    if not binary:
        raise unittest.SkipTest("SAGACTL_BIN is not set (ctest sets it to the built sagactl)")
    broker = subprocess.Popen([binary, "dev-broker", "--port", str(port)], stdout=subprocess.PIPE, text=True)
    line = broker.stdout.readline()
    broker.stdout.close()
    if not line.startswith("bootstrap: "):
        broker.kill()
        raise RuntimeError(f"dev-broker printed {line!r}")
    return broker, line.split()[1]


class KafkaParticipantTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker, cls.bootstrap = start_broker()

    @classmethod
    def tearDownClass(cls):
        cls.broker.terminate()
        cls.broker.wait()

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        suffix = uuid.uuid4().hex[:8]
        self.commands = f"inventory-{suffix}.commands"
        self.replies = f"order-{suffix}.replies"
        self.connect(suffix)
        self.calls = 0

    def connect(self, suffix):
        self.producer = Producer({"bootstrap.servers": self.bootstrap})
        self.reader = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "test-" + suffix,
                                "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10})
        # The topics exist before the reader subscribes (a consumer looks for a missing
        # subscribed topic again only at its metadata refresh, minutes later).
        self.producer.list_topics(self.replies, timeout=DEADLINE_SECONDS)
        self.reader.subscribe([self.replies])

    def tearDown(self):
        if self.reader is not None:
            self.reader.close()
        self.dir.cleanup()

    def serve(self, reserve=None):
        p = Participant(self.bootstrap, self.commands, group="inventory", consume="assign",
                        reply_log=os.path.join(self.dir.name, "replies.db"), warm_topics=[self.replies])

        def default_reserve(cmd):
            self.calls += 1
            return Reply.ok({"reservationId": "r-" + cmd.payload["orderId"]})

        p.on("Reserve", reserve or default_reserve)

        t = threading.Thread(target=p.run, daemon=True)
        t.start()
        return p, t

    def send(self, message_id, attempt, **extra):
        headers = {**extra,"saga-id": "s-1", "saga-name": "order", "saga-version": "1", "saga-step": "reserve",
                   "saga-action": "execute", "saga-command": "Reserve", "message-id": message_id,
                   "idempotency-key": "s-1/reserve/execute", "reply-to": self.replies, "attempt": str(attempt)}
        self.producer.produce(self.commands, key=b"s-1", value=json.dumps({"orderId": "o-1"}).encode(),
                              headers=list(headers.items()))
        self.assertEqual(self.producer.flush(DEADLINE_SECONDS), 0)

    def next_reply(self):
        until = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < until:
            m = self.reader.poll(0.1)
            if m is not None and m.error() is None:
                return {n: v.decode() for n, v in m.headers()}, json.loads(m.value())
        self.fail("no reply within the deadline")

    def test_a_command_is_answered_on_reply_to_and_a_repeat_after_a_restart_from_the_log(self):
        p, t = self.serve()
        self.send("m-1", 1)
        headers, body = self.next_reply()
        self.assertEqual(headers["in-reply-to"], "m-1")
        self.assertEqual(headers["outcome"], "success")
        self.assertEqual(body, {"reservationId": "r-o-1"})
        p.stop()
        t.join(DEADLINE_SECONDS)
        self.assertFalse(t.is_alive())

        p, t = self.serve()
        self.send("m-2", 2)
        headers, body = self.next_reply()
        self.assertEqual(headers["in-reply-to"], "m-2")
        self.assertEqual(body, {"reservationId": "r-o-1"})
        self.assertEqual(self.calls, 1, "the restarted participant answered from its reply log")
        p.stop()
        t.join(DEADLINE_SECONDS)

    def test_handler_bugs_leave_the_participant_serving_and_an_expired_command_is_skipped(self):
        def buggy(cmd):
            if cmd.attempt == 1:
                raise RuntimeError("a bug")
            if cmd.attempt == 2:
                return {"reservationId": "r-1"}  # forgot Reply.ok
            self.calls += 1
            return Reply.ok({"reservationId": "r-1"})

        with self.assertLogs("sagactl_participant", "INFO") as logs:
            p, t = self.serve(buggy)
            self.send("m-1", 1)
            self.send("m-2", 2)
            self.send("m-3", 3, **{"expires-at": "2020-01-01T00:00:00.000Z"})  # long given up
            self.send("m-4", 4, **{"expires-at": "2999-01-01T00:00:00.000Z"})
            headers, body = self.next_reply()
            p.stop()
            t.join(DEADLINE_SECONDS)
        self.assertEqual(headers["in-reply-to"], "m-4", "the first reply is the fourth attempt's")
        self.assertEqual(self.calls, 1)
        text = "\n".join(logs.output)
        self.assertIn("raised; not replying", text)
        self.assertIn("returned dict, not a Reply", text)
        self.assertIn("skipped, it expired at 2020-01-01T00:00:00.000Z", text)
        self.assertFalse(t.is_alive())

    def test_a_participant_finds_the_broker_again_after_the_broker_restarts_on_its_port(self):
        port = free_port()
        broker, bootstrap = start_broker(port)
        try:
            self.bootstrap = bootstrap
            self.reader.close()
            self.connect("restart-1")  # clients of this broker
            p, t = self.serve()
            self.send("m-1", 1)
            self.assertEqual(self.next_reply()[0]["in-reply-to"], "m-1")
            self.reader.close()
            broker.terminate()
            broker.wait()
            broker, again = start_broker(port)  # everything it held is gone; the port is the same
            self.assertEqual(again, bootstrap)
            self.connect("restart-2")
            # The restarted broker's logs start again at offset 0, behind the participant's
            # position: it notices the new cluster and reads the new logs from their beginning.
            self.send("m-2", 2)
            headers, body = self.next_reply()
            self.assertEqual(headers["in-reply-to"], "m-2")
            self.assertEqual(body, {"reservationId": "r-o-1"})
            p.stop()
            t.join(DEADLINE_SECONDS)
        finally:
            self.bootstrap = type(self).bootstrap
            self.reader.close()  # before its broker goes: closing a group member waits for its coordinator
            self.reader = None
            broker.terminate()
            broker.wait()

    def test_stop_returns_within_the_shutdown_timeout_when_the_brokers_are_gone(self):
        port = free_port()
        broker, bootstrap = start_broker(port)
        self.bootstrap = bootstrap
        self.reader.close()
        self.reader = None
        try:
            p = Participant(bootstrap, self.commands, group="inventory-gone",
                            reply_log=os.path.join(self.dir.name, "gone.db"), shutdown_timeout=1.0)
            t = threading.Thread(target=p.run, daemon=True)
            t.start()
            until = time.monotonic() + DEADLINE_SECONDS
            while not p._consumer.assignment() and time.monotonic() < until:  # a member of its group
                time.sleep(0.05)
        finally:
            self.bootstrap = type(self).bootstrap
            broker.kill()
            broker.wait()
        asked = time.monotonic()
        p.stop()
        t.join(DEADLINE_SECONDS)
        self.assertFalse(t.is_alive())
        # One second of shutdown_timeout plus a poll: not librdkafka's minutes-long close.
        self.assertLess(time.monotonic() - asked, 3.0)

    def test_unreachable_brokers_are_said_once_and_served_when_they_come(self):
        port = free_port()
        p = Participant(f"127.0.0.1:{port}", self.commands, group="inventory-late", consume="assign",
                        reply_log=os.path.join(self.dir.name, "late.db"), warm_topics=[self.replies])
        p.on("Reserve")(lambda cmd: Reply.ok({"late": True}))
        with self.assertLogs("sagactl_participant", level="INFO") as logs:
            t = threading.Thread(target=p.run, daemon=True)
            t.start()
            until = time.monotonic() + DEADLINE_SECONDS
            while not any("unreachable" in r for r in logs.output) and time.monotonic() < until:
                time.sleep(0.05)  # a condition poll: the first attempt has failed and been said
            broker, bootstrap = start_broker(port)
            try:
                self.bootstrap = bootstrap
                self.reader.close()
                self.connect("late")
                self.send("m-late", 1)
                headers, body = self.next_reply()
                self.assertEqual(body, {"late": True})
                p.stop()
                t.join(DEADLINE_SECONDS)
            finally:
                self.bootstrap = type(self).bootstrap
                self.reader.close()
                self.reader = None
                broker.terminate()
                broker.wait()
        unreachable = [r for r in logs.output if "unreachable" in r]
        self.assertEqual(len(unreachable), 1, logs.output)
        self.assertIn(f"brokers 127.0.0.1:{port} unreachable", unreachable[0])

    def test_a_bad_client_property_is_refused_before_anything_runs(self):
        with self.assertRaises(KafkaException) as e:
            Participant(self.bootstrap, self.commands, reply_log=os.path.join(self.dir.name, "r.db"),
                        properties={"fetch.wait.max.ms": "not-a-number"})
        self.assertIn("fetch.wait.max.ms", str(e.exception))


if __name__ == "__main__":
    unittest.main()
