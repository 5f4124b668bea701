"""Reading the audit stream: every decision and outcome, filterable by conversation and cluster."""

from __future__ import annotations

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from hermes import bus, subjects
from hermes.contracts import AuditRecord
from hermes.permissions import NATS_USERS, inbox_prefix
from hermes.signing import TrustedKeys, model_verifies


def verified(record: AuditRecord, keys: TrustedKeys) -> bool | None:
    """Whether `record` carries the signature of the service it names (None: no key to check with)."""
    if record.service not in keys:
        return None
    return model_verifies(record, record.service, keys)


async def read_audit(nats_url: str, conversation_id: str | None = None, cluster: str | None = None,
                     limit: int = 200, user: str | None = None, password: str | None = None) -> list[AuditRecord]:
    """The most recent audit records (oldest first), optionally for one conversation or cluster."""
    # One quick attempt: an unreachable server is reported in seconds, not after a minute of retries.
    # (nats-py reads max_reconnect_attempts=0 as "unlimited" when picking a server, hence 1.)
    nc = await nats.connect(servers=bus.nats_servers(nats_url), connect_timeout=3, allow_reconnect=False, max_reconnect_attempts=1,
                            reconnect_time_wait=0.5, user=user, password=password,
                            inbox_prefix=inbox_prefix(user) if user in NATS_USERS else "_INBOX")
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.AUDIT_STREAM.name)
        total = info.state.messages
        if total == 0:
            return []
        sub = await js.pull_subscribe(
            f"{subjects.AUDIT}.>", stream=subjects.AUDIT_STREAM.name,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30),
        )
        records: list[AuditRecord] = []
        seen = 0
        while seen < total:
            batch = await sub.fetch(min(256, total - seen), timeout=5)
            for msg in batch:
                seen += 1
                record = AuditRecord.model_validate_json(msg.data)
                if conversation_id and record.conversation_id != conversation_id:
                    continue
                if cluster and record.cluster != cluster and not any(cluster in argv for argv in record.commands):
                    continue
                records.append(record)
        await sub.unsubscribe()
        return records[-limit:]
    finally:
        await nc.close()
