"""The sagactl wire protocol as a participant sees it (docs/protocol.md).

Pure functions over plain values, no Kafka: reading a command's headers, building the
reply. The header names are the contract; tests check them against the engine's.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

# Headers of a command (orchestrator -> participant).
SAGA_ID = "saga-id"
SAGA_NAME = "saga-name"
SAGA_VERSION = "saga-version"
STEP = "saga-step"
ACTION = "saga-action"
COMMAND = "saga-command"
MESSAGE_ID = "message-id"
IDEMPOTENCY_KEY = "idempotency-key"
REPLY_TO = "reply-to"
ATTEMPT = "attempt"
TRACEPARENT = "traceparent"
# When the orchestrator gives the attempt up (RFC 3339 UTC): a command received later is skipped.
EXPIRES_AT = "expires-at"
# The partition of reply-to the reply goes to (decimal text); a cluster of orchestrators sets
# it so that the reply reaches the node working the saga. Spring Kafka's name for the same
# (a 4-byte big-endian int) is accepted too.
REPLY_PARTITION = "reply-partition"
SPRING_REPLY_PARTITION = "kafka_replyPartition"
MAX_PARTITION = 2**31 - 1
# Headers a reply adds (participant -> orchestrator).
IN_REPLY_TO = "in-reply-to"
OUTCOME = "outcome"

EXECUTE = "execute"
COMPENSATE = "compensate"
SUCCESS = "success"
FAILURE = "failure"

REQUIRED_COMMAND_HEADERS = (SAGA_ID, STEP, ACTION, COMMAND, IDEMPOTENCY_KEY, REPLY_TO, MESSAGE_ID)


class ProtocolError(ValueError):
    """A message on a command topic that is not a command; it gets no reply."""


@dataclass(frozen=True)
class Command:
    """One command as the handler sees it."""

    saga_id: str
    saga: str
    step: str
    action: str  # "execute" or "compensate"
    command: str
    idempotency_key: str
    attempt: int
    payload: Any
    expires_at: Optional[float] = None  # seconds since the epoch; None: no deadline


@dataclass(frozen=True)
class Reply:
    """What a handler returns: a success with a JSON object body, or a failure with a reason."""

    success: bool = True
    body: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def ok(body: Optional[Mapping[str, Any]] = None) -> "Reply":
        return Reply(True, dict(body or {}))

    @staticmethod
    def failure(error: str) -> "Reply":
        return Reply(False, {"error": error})


@dataclass(frozen=True)
class OutgoingReply:
    """A reply message ready for the producer."""

    topic: str
    key: Optional[bytes]
    value: bytes
    headers: list  # [(name, bytes)] in wire order
    partition: Optional[int] = None  # None: the producer's partitioner, by key


def decode_headers(headers) -> dict:
    """Kafka headers (a list of (name, bytes) pairs, or None) as a dict of str; the last wins.

    Bytes that are not UTF-8 are kept as surrogate escapes (a binary header such as
    kafka_replyPartition encodes back to its bytes with "surrogateescape")."""
    out = {}
    for name, value in headers or []:
        out[name] = value.decode("utf-8", "surrogateescape") if isinstance(value, (bytes, bytearray)) else (value or "")
    return out


def _decimal_partition(text: str) -> Optional[int]:
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_PARTITION else None


def reply_partition(headers: Mapping[str, str]) -> Optional[int]:
    """The partition a command asks its reply to go to: reply-partition (decimal), else
    kafka_replyPartition (4 bytes big-endian, or decimal); None when absent or not a number."""
    if REPLY_PARTITION in headers:
        return _decimal_partition(headers[REPLY_PARTITION])
    spring = headers.get(SPRING_REPLY_PARTITION)
    if spring is None:
        return None
    raw = spring.encode("utf-8", "surrogateescape")
    if len(raw) == 4:
        value = int.from_bytes(raw, "big")
        return value if value <= MAX_PARTITION else None
    return _decimal_partition(spring)


_RFC3339_UTC = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?[Zz]")


def parse_time(text: str) -> Optional[float]:
    """An RFC 3339 UTC time ("2026-12-05T09:14:03.250Z") as seconds since the epoch; None if malformed."""
    m = _RFC3339_UTC.fullmatch(text or "")
    if m is None:
        return None
    try:
        at = datetime(*(int(g) for g in m.groups()[:6]), tzinfo=timezone.utc)
    except ValueError:
        return None
    fraction = m.group(7) or "0"
    return at.timestamp() + int(fraction[:3].ljust(3, "0")) / 1000.0


def read_command(headers: Mapping[str, str], value: Optional[bytes]) -> Command:
    """Reads a command message; ProtocolError says what is missing or malformed."""
    for name in REQUIRED_COMMAND_HEADERS:
        if not headers.get(name):
            raise ProtocolError(f'missing header "{name}"')
    action = headers[ACTION]
    if action not in (EXECUTE, COMPENSATE):
        raise ProtocolError(f'header "{ACTION}" is "{action}"; it must be {EXECUTE} or {COMPENSATE}')
    try:
        payload = json.loads(value) if value else {}
    except ValueError as e:
        raise ProtocolError(f"the payload is not JSON: {e}") from None
    try:
        attempt = int(headers.get(ATTEMPT, "0"))
    except ValueError:
        raise ProtocolError(f'header "{ATTEMPT}" is "{headers.get(ATTEMPT)}"; it must be a number') from None
    return Command(
        saga_id=headers[SAGA_ID],
        saga=headers.get(SAGA_NAME, ""),
        step=headers[STEP],
        action=action,
        command=headers[COMMAND],
        idempotency_key=headers[IDEMPOTENCY_KEY],
        attempt=attempt,
        payload=payload,
        expires_at=parse_time(headers.get(EXPIRES_AT, "")),
    )


def execute_key(saga_id: str, step: str) -> str:
    """The idempotency key of a step's execute command (the orchestrator's format)."""
    return f"{saga_id}/{step}/{EXECUTE}"


def reply_message(headers: Mapping[str, str], key: Optional[bytes], reply: Reply) -> OutgoingReply:
    """The reply to a command: to its reply-to topic (on its reply_partition, if named), same key,
    the correlation headers."""
    out = [
        (SAGA_ID, headers[SAGA_ID]),
        (STEP, headers[STEP]),
        (ACTION, headers[ACTION]),
        (IN_REPLY_TO, headers[MESSAGE_ID]),
    ]
    if headers.get(TRACEPARENT):
        out.append((TRACEPARENT, headers[TRACEPARENT]))
    out.append((OUTCOME, SUCCESS if reply.success else FAILURE))
    return OutgoingReply(
        topic=headers[REPLY_TO],
        key=key,
        value=json.dumps(dict(reply.body), separators=(",", ":")).encode("utf-8"),
        headers=[(n, v.encode("utf-8")) for n, v in out],
        partition=reply_partition(headers),
    )
