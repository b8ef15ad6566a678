"""The participant's guarantees, without Kafka."""

import json
import os
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sagactl_participant import MemoryReplyLog, ParticipantCore, Reply, SqliteReplyLog  # noqa: E402
from sagactl_participant import protocol  # noqa: E402


def command(action="execute", step="reserve", command_name="Reserve", attempt=1, message_id="m-1", payload=None):
    headers = {
        "saga-id": "s-1",
        "saga-name": "order",
        "saga-version": "1",
        "saga-step": step,
        "saga-action": action,
        "saga-command": command_name,
        "message-id": message_id,
        "idempotency-key": f"s-1/{step}/{action}",
        "reply-to": "order.replies",
        "attempt": str(attempt),
        "traceparent": "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
    }
    return headers, b"s-1", json.dumps(payload or {"orderId": "o-1"}).encode()


class Counting:
    def __init__(self, reply):
        self.calls = 0
        self.reply = reply

    def __call__(self, cmd):
        self.calls += 1
        return self.reply(cmd) if callable(self.reply) else self.reply


class ParticipantCoreTest(unittest.TestCase):
    def setUp(self):
        self.core = ParticipantCore(MemoryReplyLog())

    def test_the_reply_goes_to_reply_to_with_the_correlation_headers(self):
        self.core.on("Reserve", lambda c: Reply.ok({"reservationId": "r-" + c.payload["orderId"]}))
        out = self.core.handle(*command())
        self.assertEqual(out.topic, "order.replies")
        self.assertEqual(out.key, b"s-1")
        self.assertEqual(json.loads(out.value), {"reservationId": "r-o-1"})
        headers = {n: v.decode() for n, v in out.headers}
        self.assertEqual(headers["saga-id"], "s-1")
        self.assertEqual(headers["saga-step"], "reserve")
        self.assertEqual(headers["saga-action"], "execute")
        self.assertEqual(headers["in-reply-to"], "m-1")
        self.assertEqual(headers["outcome"], "success")
        self.assertTrue(headers["traceparent"].startswith("00-"))

    def test_the_reply_goes_to_the_partition_the_command_names_in_either_convention(self):
        self.core.on("Reserve", lambda c: Reply.ok())
        headers, key, value = command()
        self.assertIsNone(self.core.handle(headers, key, value).partition, "no header: by key")
        self.assertEqual(self.core.handle({**headers, "reply-partition": "2"}, key, value).partition, 2)
        spring = protocol.decode_headers([(n, v.encode()) for n, v in headers.items()] +
                                         [("kafka_replyPartition", (261).to_bytes(4, "big"))])
        self.assertEqual(self.core.handle(spring, key, value).partition, 261)
        self.assertEqual(self.core.handle({**spring, "reply-partition": "7"}, key, value).partition, 7, "ours first")
        for bad in ("-1", "x", "", "1.5", "99999999999"):
            self.assertIsNone(self.core.handle({**headers, "reply-partition": bad}, key, value).partition, bad)

    def test_a_repeated_command_gets_the_recorded_reply_and_the_handler_runs_once(self):
        n = [0]

        def reserve(c):
            n[0] += 1
            return Reply.ok({"call": n[0]})

        self.core.on("Reserve", reserve)
        first = self.core.handle(*command(attempt=1, message_id="m-1"))
        again = self.core.handle(*command(attempt=2, message_id="m-2"))
        self.assertEqual(n[0], 1)
        self.assertEqual(json.loads(again.value), json.loads(first.value))
        self.assertEqual(dict((k, v.decode()) for k, v in again.headers)["in-reply-to"], "m-2")

    def test_a_failure_is_not_recorded_so_a_retry_runs_again(self):
        handler = Counting(Reply.failure("out of stock"))
        self.core.on("Reserve", handler)
        out = self.core.handle(*command())
        self.assertEqual(json.loads(out.value), {"error": "out of stock"})
        self.assertIn((protocol.OUTCOME, b"failure"), out.headers)
        self.core.handle(*command(attempt=2, message_id="m-2"))
        self.assertEqual(handler.calls, 2)

    def test_an_unknown_compensation_is_an_empty_success_and_the_late_command_is_refused(self):
        undo = Counting(Reply.ok())
        do = Counting(Reply.ok({"done": True}))
        self.core.on("Release", undo)
        self.core.on("Reserve", do)
        out = self.core.handle(*command(action="compensate", command_name="Release"))
        self.assertEqual(json.loads(out.value), {})
        self.assertIn((protocol.OUTCOME, b"success"), out.headers)
        self.assertEqual(undo.calls, 0)
        late = self.core.handle(*command(action="execute", command_name="Reserve"))
        self.assertIn((protocol.OUTCOME, b"failure"), late.headers)
        self.assertEqual(do.calls, 0)

    def test_a_compensation_after_the_command_runs_the_handler(self):
        undo = Counting(Reply.ok())
        self.core.on("Reserve", Counting(Reply.ok()))
        self.core.on("Release", undo)
        self.core.handle(*command())
        self.core.handle(*command(action="compensate", command_name="Release"))
        self.assertEqual(undo.calls, 1)

    def test_a_handler_that_raises_sends_nothing_and_records_nothing(self):
        def boom(c):
            raise RuntimeError("database down")

        self.core.on("Reserve", boom)
        with self.assertLogs("sagactl_participant", "ERROR"):
            self.assertIsNone(self.core.handle(*command()))
        self.assertIsNone(self.core.reply_log.find("s-1/reserve/execute"))

    def test_an_unknown_command_is_answered_with_a_failure(self):
        out = self.core.handle(*command(command_name="Nope"))
        self.assertEqual(json.loads(out.value), {"error": 'no handler for command "Nope"'})

    def test_a_message_that_is_not_a_command_gets_no_reply(self):
        headers, key, value = command()
        del headers["idempotency-key"]
        with self.assertLogs("sagactl_participant", "WARNING") as logs:
            self.assertIsNone(self.core.handle(headers, key, value))
        self.assertIn('missing header "idempotency-key"', logs.output[0])
        headers, key, _ = command()
        with self.assertLogs("sagactl_participant", "WARNING") as logs:
            self.assertIsNone(self.core.handle(headers, key, b"{not json"))
        self.assertIn("not JSON", logs.output[0])

    def test_a_handler_returning_something_else_is_logged_and_left_unanswered(self):
        for wrong in ({"ok": True}, None, "done"):
            self.core.on("Reserve", lambda c, wrong=wrong: wrong)
            with self.assertLogs("sagactl_participant", "ERROR") as logs:
                self.assertIsNone(self.core.handle(*command()))
            self.assertIn("saga=s-1 step=reserve key=s-1/reserve/execute", logs.output[0])
            self.assertIn(f"returned {type(wrong).__name__}, not a Reply", logs.output[0])
            self.assertIsNone(self.core.reply_log.find("s-1/reserve/execute"))
        self.core.on("Reserve", lambda c: Reply.ok())
        self.assertIsNotNone(self.core.handle(*command()), "the next command is served")

    def test_a_handler_past_its_deadline_is_left_running_and_its_late_success_answers_the_next_attempt(self):
        core = ParticipantCore(MemoryReplyLog(), handler_timeout=0.05)
        release = threading.Event()
        calls = [0]

        def slow(c):
            calls[0] += 1
            release.wait(10)
            return Reply.ok({"late": True})

        core.on("Reserve", slow)
        core.on("Ship", lambda c: Reply.ok({"shipped": True}))
        with self.assertLogs("sagactl_participant", "ERROR") as logs:
            self.assertIsNone(core.handle(*command()))
        self.assertIn("did not return within 0.05s", logs.output[0])
        shipped = core.handle(*command(step="ship", command_name="Ship"))
        self.assertEqual(json.loads(shipped.value), {"shipped": True}, "the next command is not stalled")
        with self.assertLogs("sagactl_participant", "WARNING") as logs:
            self.assertIsNone(core.handle(*command(attempt=2, message_id="m-2")), "still running: no second run")
        self.assertIn("still running", logs.output[0])
        release.set()
        deadline = time.monotonic() + 10
        while core.reply_log.find("s-1/reserve/execute") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        third = core.handle(*command(attempt=3, message_id="m-3"))
        self.assertEqual(json.loads(third.value), {"late": True})
        self.assertEqual(calls[0], 1)

    def test_handlers_run_on_the_consuming_thread_without_a_deadline(self):
        core = ParticipantCore(MemoryReplyLog(), handler_timeout=None)
        core.on("Reserve", lambda c: Reply.ok({"thread": threading.current_thread().name}))
        out = core.handle(*command())
        self.assertEqual(json.loads(out.value), {"thread": threading.current_thread().name})

    def test_an_expired_command_is_skipped_without_calling_its_handler(self):
        now = [1_764_000_000.0]
        core = ParticipantCore(MemoryReplyLog(), clock=lambda: now[0])
        handler = Counting(Reply.ok())
        core.on("Reserve", handler)
        headers, key, value = command()
        with self.assertLogs("sagactl_participant", "INFO") as logs:
            self.assertIsNone(core.handle({**headers, "expires-at": "2025-11-24T15:59:59.999Z"}, key, value))
        self.assertIn("skipped, it expired at 2025-11-24T15:59:59.999Z", logs.output[0])
        self.assertEqual(handler.calls, 0)
        self.assertIsNotNone(core.handle({**headers, "expires-at": "2025-11-24T16:00:00.000Z"}, key, value), "due")
        self.assertEqual(handler.calls, 1)

    def test_expires_at_reads_as_rfc3339_utc(self):
        self.assertEqual(protocol.parse_time("2025-11-24T16:00:00.123Z"), 1_764_000_000.123)
        self.assertEqual(protocol.parse_time("2025-11-24T16:00:00Z"), 1_764_000_000.0)
        for bad in ("", "2025-11-24", "2025-11-24T16:00:00", "2025-13-24T16:00:00Z", "2025-11-24T16:00:00+01:00"):
            self.assertIsNone(protocol.parse_time(bad), bad)


class ProtocolDocTest(unittest.TestCase):
    """The SDK speaks the protocol docs/protocol.md describes."""

    def test_every_header_the_sdk_reads_or_writes_has_its_row_in_the_protocol_page(self):
        doc = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../docs/protocol.md")).read()
        commands = doc[doc.index("\n## Commands"):doc.index("\n## Replies")]
        replies = doc[doc.index("\n## Replies"):doc.index("\n## What a participant")]
        for name in protocol.REQUIRED_COMMAND_HEADERS + (protocol.SAGA_NAME, protocol.ATTEMPT, protocol.TRACEPARENT,
                                                         protocol.EXPIRES_AT, protocol.REPLY_PARTITION, protocol.SPRING_REPLY_PARTITION):
            self.assertIn(f"| `{name}` |", commands)
        out = ParticipantCore().handle(*command(command_name="Nope"))
        for name, _ in out.headers:
            self.assertIn(f"| `{name}` |", replies)
        self.assertIn("`<saga-id>/<step>/<action>`", commands)
        self.assertEqual(protocol.execute_key("s", "a"), "s/a/execute")


class SqliteReplyLogTest(unittest.TestCase):
    def test_replies_survive_a_reopen(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "replies.db")
            log = SqliteReplyLog(path)
            log.put("k", Reply.ok({"id": 7}))
            log.close()
            again = SqliteReplyLog(path)
            self.assertEqual(again.find("k"), Reply(True, {"id": 7}))
            self.assertIsNone(again.find("other"))
            again.close()


if __name__ == "__main__":
    unittest.main()
