"""The participant's guarantees, independent of Kafka (docs/protocol.md, "Idempotency").

- A repeated command (a retry after a lost reply, a resend after an orchestrator crash)
  gets the recorded reply again; the handler runs once per idempotency key. Failure
  replies are not recorded: a failed command did nothing, so a retry runs it again.
- A compensation for a command that never executed here is answered with an empty
  success without calling the handler, and the command, should it still arrive, is then
  refused instead of executing after its undo.
- A handler's bug is silence: one that raises, returns something that is not a Reply, or runs
  past `handler_timeout` gets no reply and nothing is recorded (logged with the saga, step and
  idempotency key); the orchestrator's timeout and retry take over, as for a crashed service.
  The caller goes on with the next command: a bug never kills the process or stalls it.
- A command received after its `expires-at` is skipped unanswered: the orchestrator has timed
  that attempt out already, so a consumer that reads old commands again (a new consumer group)
  never repeats finished business.

Threading: handle() from one consuming thread. With a handler_timeout (the default) handlers
run on a worker thread, the same one for every call until a handler overruns its deadline;
that one is left to finish on its own (a success it returns then is recorded, so the next
attempt is answered from the reply log) and a new worker takes the next command.
handler_timeout=None runs handlers on the consuming thread, with no deadline.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Dict, Optional, Set

from . import protocol
from .protocol import Command, OutgoingReply, ProtocolError, Reply

log = logging.getLogger("sagactl_participant")

Handler = Callable[[Command], Reply]

REFUSED_AFTER_UNDO = "compensated before it executed"
#: How long a handler may run before its command is left unanswered, seconds.
DEFAULT_HANDLER_TIMEOUT_SECONDS = 30.0


class ReplyLog:
    """Where replies are remembered by idempotency key."""

    def find(self, key: str) -> Optional[Reply]:
        raise NotImplementedError

    def put(self, key: str, reply: Reply) -> None:
        raise NotImplementedError


class MemoryReplyLog(ReplyLog):
    """For tests: forgets everything when the process ends."""

    def __init__(self) -> None:
        self._replies: Dict[str, Reply] = {}

    def find(self, key: str) -> Optional[Reply]:
        return self._replies.get(key)

    def put(self, key: str, reply: Reply) -> None:
        self._replies[key] = reply


class SqliteReplyLog(ReplyLog):
    """A SQLite file (WAL, synchronous=FULL); each put is durable before the reply goes out."""

    def __init__(self, path: str) -> None:
        # Used from the consuming thread and, for a handler past its deadline, its worker: the
        # core serialises the calls.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, success INTEGER NOT NULL, body TEXT NOT NULL)"
        )

    def find(self, key: str) -> Optional[Reply]:
        row = self._db.execute("SELECT success, body FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return Reply(bool(row[0]), json.loads(row[1]))

    def put(self, key: str, reply: Reply) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO replies (key, success, body) VALUES (?, ?, ?)",
            (key, int(reply.success), json.dumps(dict(reply.body), separators=(",", ":"))),
        )

    def close(self) -> None:
        self._db.close()


class _Worker:
    """One daemon thread running handler calls in order (a daemon: a hung handler never holds
    the process at exit)."""

    def __init__(self) -> None:
        self._jobs: "queue.SimpleQueue" = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="sagactl-handler", daemon=True).start()

    def submit(self, fn: Callable[[], Any]) -> Future:
        future: Future = Future()
        self._jobs.put((fn, future))
        return future

    def retire(self) -> None:
        """Ends the thread once its current call returns."""
        self._jobs.put(None)

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(e)


class ParticipantCore:
    def __init__(
        self,
        reply_log: Optional[ReplyLog] = None,
        *,
        handler_timeout: Optional[float] = DEFAULT_HANDLER_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reply_log = reply_log or MemoryReplyLog()
        self.handler_timeout = handler_timeout
        self._clock = clock
        self._handlers: Dict[str, Handler] = {}
        self._lock = threading.Lock()  # the reply log and _overdue, shared with overdue handlers
        self._overdue: Set[str] = set()  # keys whose handler runs past its deadline
        self._worker: Optional[_Worker] = None

    def on(self, command: str, handler: Handler) -> None:
        self._handlers[command] = handler

    def handle(self, headers: dict, key: Optional[bytes], value: Optional[bytes]) -> Optional[OutgoingReply]:
        """The reply to send for this command message, or None: not a command, expired, or the
        handler failed (each logged)."""
        try:
            cmd = protocol.read_command(headers, value)
        except ProtocolError as e:
            log.warning("ignoring a message that is not a command: %s", e)
            return None
        if cmd.expires_at is not None and self._clock() > cmd.expires_at:
            log.info("saga=%s step=%s key=%s: skipped, it expired at %s (%.0f ms ago); the orchestrator has timed "
                     "that attempt out", cmd.saga_id, cmd.step, cmd.idempotency_key, headers.get(protocol.EXPIRES_AT),
                     (self._clock() - cmd.expires_at) * 1000)
            return None
        reply = self.decide(cmd)
        return None if reply is None else protocol.reply_message(headers, key, reply)

    def decide(self, cmd: Command) -> Optional[Reply]:
        recorded = self._find(cmd.idempotency_key)
        if recorded is not None:
            return recorded
        if cmd.action == protocol.COMPENSATE and self._find(protocol.execute_key(cmd.saga_id, cmd.step)) is None:
            # Never executed here: nothing to undo. Refuse the command should it still arrive.
            self._put(protocol.execute_key(cmd.saga_id, cmd.step), Reply.failure(REFUSED_AFTER_UNDO))
            reply: Optional[Reply] = Reply.ok()
        else:
            handler = self._handlers.get(cmd.command)
            if handler is None:
                reply = Reply.failure(f'no handler for command "{cmd.command}"')
            else:
                reply = self._run(handler, cmd)
        if reply is not None and reply.success:
            self._put(cmd.idempotency_key, reply)
        return reply

    # -- internals ---------------------------------------------------------------------

    def _find(self, key: str) -> Optional[Reply]:
        with self._lock:
            return self.reply_log.find(key)

    def _put(self, key: str, reply: Reply) -> None:
        with self._lock:
            self.reply_log.put(key, reply)

    def _run(self, handler: Handler, cmd: Command) -> Optional[Reply]:
        """The handler's reply, or None (logged) when it raised, returned something else, or overran."""
        where = f"saga={cmd.saga_id} step={cmd.step} key={cmd.idempotency_key}"
        if self.handler_timeout is None:
            try:
                return self._checked(handler(cmd), cmd, where)
            except Exception:  # noqa: BLE001 - any handler error means "no reply"
                log.exception("%s: the handler for %s raised; not replying (the orchestrator retries after the "
                              "attempt's timeout)", where, cmd.command)
                return None
        with self._lock:
            if cmd.idempotency_key in self._overdue:
                log.warning("%s: the handler of an earlier attempt is still running past its deadline; not replying",
                            where)
                return None
        if self._worker is None:
            self._worker = _Worker()
        future = self._worker.submit(lambda: handler(cmd))
        try:
            result = future.result(timeout=self.handler_timeout)
        except FutureTimeout:
            log.error("%s: the handler for %s did not return within %gs; not replying (it is left to finish on its "
                      "own thread; a success it returns later answers the next attempt)", where, cmd.command,
                      self.handler_timeout)
            self._abandon(cmd, future)
            return None
        except Exception:  # noqa: BLE001 - any handler error means "no reply"
            log.exception("%s: the handler for %s raised; not replying (the orchestrator retries after the attempt's "
                          "timeout)", where, cmd.command)
            return None
        return self._checked(result, cmd, where)

    @staticmethod
    def _checked(result: Any, cmd: Command, where: str) -> Optional[Reply]:
        if isinstance(result, Reply):
            return result
        log.error("%s: the handler for %s returned %s, not a Reply (return Reply.ok({...}) or Reply.failure(reason)); "
                  "not replying", where, cmd.command, type(result).__name__)
        return None

    def _abandon(self, cmd: Command, future: Future) -> None:
        with self._lock:
            self._overdue.add(cmd.idempotency_key)
        assert self._worker is not None
        self._worker.retire()
        self._worker = None

        def finished(f: Future) -> None:  # on the abandoned worker's thread
            reply = None if f.exception() is not None else f.result()
            with self._lock:
                self._overdue.discard(cmd.idempotency_key)
                if isinstance(reply, Reply) and reply.success:
                    self.reply_log.put(cmd.idempotency_key, reply)
            log.warning("saga=%s step=%s key=%s: the overdue handler for %s finished%s", cmd.saga_id, cmd.step,
                        cmd.idempotency_key, cmd.command,
                        "; its success is recorded for the next attempt" if isinstance(reply, Reply) and reply.success
                        else "")

        future.add_done_callback(finished)
