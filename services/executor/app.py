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
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError


def create_app(settings: Settings | None = None, *, configure_logging: bool = True) -> FastStream:
    """The executor: pulls signed orders, runs them in the sandbox, publishes results."""
    rt = ServiceRuntime("executor", settings, configure_logging=configure_logging)
    # How long JetStream waits for an ack (or an "in progress") before redelivering to another executor.
    ack_wait = rt.settings.exec_ack_wait_seconds
    # Heartbeats three times per ack wait: a live executor's order is never redelivered, however
    # long its step runs; a dead executor's order is redelivered one ack wait after its last beat.
    executor = Executor(rt, heartbeat_seconds=ack_wait / 3)

    # Manual acks: the order is acked only after its result is published, so a crash mid-run
    # leads to a redelivery that the ledger recognises.
    @rt.broker.subscriber(subjects.EXEC_ORDER, stream=bus.jstream(subjects.EXEC_STREAM),
                          durable=subjects.EXECUTOR_ORDERS_DURABLE,
                          config=ConsumerConfig(ack_wait=ack_wait, filter_subjects=[]),
                          pull_sub=bus.pull(batch_size=rt.settings.exec_max_in_flight),
                          max_workers=rt.settings.exec_max_in_flight,
                          ack_policy=AckPolicy.MANUAL, title="executor: execution orders")
    async def on_order(order: ExecutionOrder, msg: NatsMessage) -> None:
        metadata = msg.raw_message.metadata
        deliveries = metadata.num_delivered if metadata else 1
        await executor.handle_order(order, deliveries, msg.in_progress)
        await msg.ack()

    @rt.on_startup
    async def _apply_ack_wait() -> None:
        """A durable consumer keeps the config it was created with: bring its ack wait up to date."""
        js = rt.broker.config.connection_state.stream
        stream, durable = subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE
        try:
            info = await js.consumer_info(stream, durable)
        except NotFoundError:
            return
        if info.config.ack_wait is not None and abs(info.config.ack_wait - ack_wait) < 0.001:
            return
        if not rt.settings.nats_declare_streams:  # the bootstrap owns the consumer; this user may not change it
            rt.log.error("executor consumer ack wait differs from HERMES_EXEC_ACK_WAIT_SECONDS; run `hermes "
                         "bootstrap` with the same value (the executor's NATS user may not change consumers)",
                         consumer_ack_wait_seconds=info.config.ack_wait, configured_seconds=ack_wait)
            return
        await js.add_consumer(stream, config=info.config.evolve(ack_wait=ack_wait))  # create-or-update
        rt.log.info("executor consumer ack wait updated", ack_wait_seconds=ack_wait,
                    was=info.config.ack_wait)

    return rt.app()
