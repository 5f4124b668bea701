"""Gateway service wiring: the reply subscriber, and the HTTP API started with the service."""

from __future__ import annotations

from aiohttp import web
from faststream import FastStream
from faststream.middlewares import AckPolicy
from faststream.nats import NatsMessage
from hermes import bus, subjects
from hermes.config import load_config
from hermes.contracts import Delivery, Reply
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.stores.users import UserDirectory
from hermes_gateway.http_api import HttpApi, build_http_app
from hermes_gateway.hub import ChannelHub
from hermes_gateway.intake import Intake
from hermes_gateway.people import People
from hermes_gateway.service import Gateway


def create_app(settings: Settings | None = None, *, configure_logging: bool = True) -> FastStream:
    """The gateway: HTTP API in, conversation events out."""
    rt = ServiceRuntime("gateway", settings, configure_logging=configure_logging)
    key = rt.settings.require_service_key("gateway")  # signs the identity of every message it publishes
    config = load_config()
    rt.add_secrets(config.secret_values())  # channel tokens and secrets never reach a log or a reply
    gateway = Gateway(rt)
    runner: dict[str, web.AppRunner] = {}
    bootstrap = rt.settings.api_token.get_secret_value() if rt.settings.api_token else None
    people: dict[str, People] = {}

    def make_people() -> People:  # after start-up: it reads users from Redis
        if "p" not in people:
            channel_roles = {name: channel.role for name in ("slack", "discord", "telegram")
                             if (channel := getattr(config.channels, name)) is not None}
            people["p"] = People(UserDirectory(rt.redis, rt.keys), key, config.people, channel_roles, bootstrap)
        return people["p"]

    def make_intake() -> Intake:
        return Intake(make_people(), gateway.approvals, rt.redactor)

    # The chat platforms: built now, so that no reply handled before the HTTP side is up misses them.
    channels = ChannelHub(rt, lambda: gateway.conversations, gateway.approval_conversation, config,
                          intake=make_intake)
    channels.build_adapters()
    gateway.hub = channels

    @rt.broker.subscriber(subjects.REPLY_CREATED, stream=bus.jstream(subjects.REPLY_STREAM),
                          durable=subjects.GATEWAY_REPLIES_DURABLE, pull_sub=bus.pull(batch_size=16),
                          ack_policy=bus.ACK_AFTER_HANDLING, title="gateway: replies")
    async def on_reply(reply: Reply) -> None:
        await gateway.handle_reply(reply)

    @rt.broker.subscriber(subjects.DELIVERY_REQUESTED, stream=bus.jstream(subjects.DELIVERY_STREAM),
                          durable=subjects.GATEWAY_DELIVERY_DURABLE, pull_sub=bus.pull(batch_size=8),
                          ack_policy=AckPolicy.MANUAL, title="gateway: deliveries to chat platforms")
    async def on_delivery(delivery: Delivery, msg: NatsMessage) -> None:
        outcome = await channels.deliver(delivery)
        if outcome.status in ("retry", "wait"):
            await msg.nack(delay=outcome.retry_in)
        else:
            await msg.ack()

    async def ready() -> dict[str, bool]:
        checks = {"nats": rt.broker.config.connection_state.connection.is_connected}
        try:
            checks["redis"] = bool(await rt.redis.ping())
        except Exception:
            checks["redis"] = False
        return checks

    @rt.on_startup
    async def start_http() -> None:
        api = HttpApi(gateway.conversations, rt.publish, make_intake(), gateway.approvals, ready,
                      rt.settings.long_poll_max_seconds)
        await channels.start()
        # On stop, requests still open after a few seconds (long polls, event streams: a client re-opens
        # them with its cursor and loses nothing) are cancelled rather than held for a minute.
        app_runner = web.AppRunner(build_http_app(api, make_people(), public_routes=channels.routes()),
                                   access_log=None, shutdown_timeout=3.0)
        await app_runner.setup()
        site = web.TCPSite(app_runner, rt.settings.http_host, rt.settings.http_port)
        await site.start()
        runner["http"] = app_runner
        rt.log.info("http api listening", host=rt.settings.http_host, port=rt.settings.http_port)

    @rt.on_shutdown
    async def stop_http() -> None:
        if "http" in runner:
            await runner.pop("http").cleanup()
        await channels.stop()

    return rt.app()
