"""The AsyncAPI document of the bus, generated from the services' own FastStream subscribers.

It is the contract for other systems that publish onto Hermes's subjects (e.g. a `ChatMessage` on
`hermes.v1.chat.received`). `docs/asyncapi.yaml` is a snapshot of it; a test keeps the two equal so a
contract change shows up in review.
"""

from __future__ import annotations

import json

import yaml
from faststream.specification import AsyncAPI
from hermes.settings import Settings
from hermes.signing import generate_keys
from pydantic import SecretStr

DESCRIPTION = (
    "Hermes's message bus (NATS JetStream). Other systems may publish a ChatMessage on "
    "hermes.v1.chat.received with any NATS client (set the Nats-Msg-Id header to the message id); "
    "replies appear in the conversation's events on the gateway's HTTP API."
)


def build_document() -> str:
    """The AsyncAPI 3.0 document (YAML) of all four services."""
    from hermes_executor.app import create_app as executor
    from hermes_gateway.app import create_app as gateway
    from hermes_guard.app import create_app as guard
    from hermes_planner.app import create_app as planner

    # Throw-away keys: the document depends on the subscribers, not on who signs.
    private, public = generate_keys(("gateway", "planner", "guard", "executor"))
    brokers = []
    for name, factory in (("gateway", gateway), ("planner", planner), ("guard", guard), ("executor", executor)):
        settings = Settings(nats_url="nats://127.0.0.1:4222", service_key=SecretStr(private[name]),
                            trusted_keys=json.dumps(public))
        brokers.append(factory(settings, configure_logging=False).broker)
    spec = AsyncAPI(*brokers, title="Hermes bus", version="1", description=DESCRIPTION)
    # Canonical form (sorted keys) so the snapshot does not depend on registration order.
    document = yaml.safe_load(spec.to_specification().to_yaml())
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100)
