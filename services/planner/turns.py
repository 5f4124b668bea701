"""Who asked what, for the messages one turn produces."""

from __future__ import annotations

from dataclasses import dataclass

from hermes.contracts import Identity


@dataclass
class Turn:
    """One request being handled: its conversation, correlation, requester and the gateway's stamp
    (forwarded on every plan so the guard knows who asked)."""

    conversation_id: str
    correlation_id: str
    user: str
    message_id: str
    identity: Identity | None = None
