"""Executor service wiring: one subscriber on the shared work queue of orders."""

from __future__ import annotations

from faststream import FastStream
from faststream.middlewares import AckPolicy
from faststream.nats import NatsMessage

from hermes import bus, subjects
from hermes.contracts import ExecutionOrder
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes_executor.service import Executor


def create_app(settings: Settings | None = None, *, configure_logging: bool = True) -> FastStream:
    """The executor: pulls signed orders, runs them in the sandbox, publishes results."""
    rt = ServiceRuntime("executor", settings, configure_logging=configure_logging)
    executor = Executor(rt)

    # Manual acks: the order is acked only after its result is published, so a crash mid-run
    # leads to a redelivery that the ledger recognises.
    @rt.broker.subscriber(subjects.EXEC_ORDER, stream=bus.jstream(subjects.EXEC_STREAM),
                          durable=subjects.EXECUTOR_ORDERS_DURABLE,
                          pull_sub=bus.pull(batch_size=rt.settings.exec_max_in_flight),
                          max_workers=rt.settings.exec_max_in_flight,
                          ack_policy=AckPolicy.MANUAL, title="executor: execution orders")
    async def on_order(order: ExecutionOrder, msg: NatsMessage) -> None:
        metadata = msg.raw_message.metadata
        deliveries = metadata.num_delivered if metadata else 1
        await executor.handle_order(order, deliveries, msg.in_progress)
        await msg.ack()

    return rt.app()
