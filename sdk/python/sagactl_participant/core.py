"""The participant's guarantees, independent of Kafka (docs/protocol.md, "Idempotency").

- A repeated command (a retry after a lost reply, a resend after an orchestrator crash)
  gets the recorded reply again; the handler runs once per idempotency key. Failure
  replies are not recorded: a failed command did nothing, so a retry runs it again.
- A compensation for a command that never executed here is answered with an empty
  success without calling the handler, and the command, should it still arrive, is then
  refused instead of executing after its undo.
- A handler that raises gets no reply and nothing is recorded: the orchestrator's timeout
  and retry take over, as for a crashed service.

Not thread-safe: one ParticipantCore per consuming thread.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Callable, Dict, Optional

from . import protocol
from .protocol import Command, OutgoingReply, ProtocolError, Reply

log = logging.getLogger("sagactl_participant")

Handler = Callable[[Command], Reply]

REFUSED_AFTER_UNDO = "compensated before it executed"


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


class ParticipantCore:
    def __init__(self, reply_log: Optional[ReplyLog] = None) -> None:
        self.reply_log = reply_log or MemoryReplyLog()
        self._handlers: Dict[str, Handler] = {}

    def on(self, command: str, handler: Handler) -> None:
        self._handlers[command] = handler

    def handle(self, headers: dict, key: Optional[bytes], value: Optional[bytes]) -> Optional[OutgoingReply]:
        """The reply to send for this command message, or None (not a command, or the handler raised)."""
        try:
            cmd = protocol.read_command(headers, value)
        except ProtocolError as e:
            log.warning("ignoring a message that is not a command: %s", e)
            return None
        reply = self.decide(cmd)
        return None if reply is None else protocol.reply_message(headers, key, reply)

    def decide(self, cmd: Command) -> Optional[Reply]:
        recorded = self.reply_log.find(cmd.idempotency_key)
        if recorded is not None:
            return recorded
        if cmd.action == protocol.COMPENSATE and self.reply_log.find(protocol.execute_key(cmd.saga_id, cmd.step)) is None:
            # Never executed here: nothing to undo. Refuse the command should it still arrive.
            self.reply_log.put(protocol.execute_key(cmd.saga_id, cmd.step), Reply.failure(REFUSED_AFTER_UNDO))
            reply = Reply.ok()
        else:
            handler = self._handlers.get(cmd.command)
            if handler is None:
                reply = Reply.failure(f'no handler for command "{cmd.command}"')
            else:
                try:
                    reply = handler(cmd)
                except Exception:  # noqa: BLE001 - any handler error means "no reply"
                    log.exception("saga=%s step=%s attempt=%d: handler for %s raised, not replying",
                                  cmd.saga_id, cmd.step, cmd.attempt, cmd.command)
                    return None
                if not isinstance(reply, Reply):
                    raise TypeError(f"the handler for {cmd.command} returned {type(reply).__name__}, not a Reply")
        if reply.success:
            self.reply_log.put(cmd.idempotency_key, reply)
        return reply
