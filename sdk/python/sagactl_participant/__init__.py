"""sagactl participant SDK for Python: serve a saga's commands over Kafka.

See docs/protocol.md for the wire contract this implements.
"""

from .core import MemoryReplyLog, ParticipantCore, ReplyLog, SqliteReplyLog
from .protocol import Command, ProtocolError, Reply

__all__ = [
    "Command",
    "MemoryReplyLog",
    "Participant",
    "ParticipantCore",
    "ProtocolError",
    "Reply",
    "ReplyLog",
    "SqliteReplyLog",
]


def __getattr__(name):
    # The Kafka part imports confluent_kafka; the pure core works without it.
    if name == "Participant":
        from .kafka import Participant

        return Participant
    raise AttributeError(name)
