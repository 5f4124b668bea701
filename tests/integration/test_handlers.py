"""FastStream handler tests: one test body, run on the in-memory broker and on a real nats-server."""

from __future__ import annotations

import asyncio
import json

import pytest
from faststream.nats import TestNatsBroker
from hermes import bus, subjects
from hermes.config import load_config
from hermes.contracts import ChatMessage, ExecutionResult, Plan, Reply, StepResult
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.signing import ServiceKey, generate_keys
from hermes_planner.service import Planner


@pytest.fixture(params=["memory", "real"])
async def planner_runtime(request, fresh_nats, redis_server, redis_prefix):
    """A planner runtime whose broker is either FastStream's in-memory one or a real connection."""
    settings = Settings(nats_url=fresh_nats.url, redis_url=redis_server.url, redis_prefix=redis_prefix,
                        service_key=ServiceKey.generate("planner").private_text(),
                        trusted_keys=json.dumps(generate_keys(["gateway", "guard"])[1]))
    rt = ServiceRuntime("planner", settings, configure_logging=False)
    planner = Planner(rt, load_config())
    seen: dict[str, asyncio.Queue] = {subjects.PLAN_PROPOSED: asyncio.Queue(), subjects.REPLY_CREATED: asyncio.Queue()}

    @rt.broker.subscriber(subjects.CHAT_RECEIVED, stream=bus.jstream(subjects.CHAT_STREAM),
                          durable=subjects.PLANNER_CHAT_DURABLE, pull_sub=bus.pull())
    async def on_chat(message: ChatMessage) -> None:
        await planner.handle_chat(message)

    @rt.broker.subscriber(subjects.EXEC_RESULT, stream=bus.jstream(subjects.RESULT_STREAM),
                          durable=subjects.PLANNER_RESULTS_DURABLE, pull_sub=bus.pull())
    async def on_result(result: ExecutionResult) -> None:
        await planner.handle_result(result)

    # What the planner publishes, as the guard and the gateway would receive it.
    @rt.broker.subscriber(subjects.PLAN_PROPOSED, stream=bus.jstream(subjects.PLAN_STREAM),
                          durable="test-guard-plans", pull_sub=bus.pull())
    async def plans(plan: Plan) -> None:
        await seen[subjects.PLAN_PROPOSED].put(plan)

    @rt.broker.subscriber(subjects.REPLY_CREATED, stream=bus.jstream(subjects.REPLY_STREAM),
                          durable="test-gateway", pull_sub=bus.pull())
    async def replies(reply: Reply) -> None:
        await seen[subjects.REPLY_CREATED].put(reply)

    await rt.start_dependencies()
    async with TestNatsBroker(rt.broker, with_real=request.param == "real") as broker:
        if request.param == "real":
            await bus.ensure_streams(broker)
        yield rt, seen
    await rt.redis.aclose()


async def test_chat_message_becomes_a_plan_for_the_guard(planner_runtime) -> None:
    rt, seen = planner_runtime
    message = ChatMessage(conversation_id="c1", correlation_id="m1", id="m1", text="List my Ankra clusters",
                          user="alice")
    await bus.publish(rt.broker, message, subjects.CHAT_RECEIVED)
    plan = await asyncio.wait_for(seen[subjects.PLAN_PROPOSED].get(), 15)
    assert plan.steps[0].argv == ["cluster", "list"]
    assert (plan.conversation_id, plan.correlation_id, plan.message_id, plan.requested_by) == ("c1", "m1", "m1", "alice")


async def test_unknown_request_is_answered_with_what_hermes_can_do(planner_runtime) -> None:
    rt, seen = planner_runtime
    await bus.publish(rt.broker, ChatMessage(conversation_id="c2", correlation_id="m2", text="sing a song"),
                      subjects.CHAT_RECEIVED)
    reply = await asyncio.wait_for(seen[subjects.REPLY_CREATED].get(), 15)
    assert reply.final and reply.correlation_id == "m2"
    assert "List my Ankra clusters" in reply.text
    assert seen[subjects.PLAN_PROPOSED].empty()


async def test_result_becomes_the_final_reply_with_a_table(planner_runtime) -> None:
    rt, seen = planner_runtime
    result = ExecutionResult(conversation_id="c3", correlation_id="m3", order_id="o3", plan_id="p3",
                             outcome="ok", steps=[StepResult(
                                 step_id="s", argv=["cluster", "list"], command="cluster list", outcome="ok",
                                 exit_code=0, data=[{"id": "c-1", "name": "production", "kind": "ovh",
                                                     "state": "online", "nodes": 5}])])
    await bus.publish(rt.broker, result, subjects.EXEC_RESULT)
    reply = await asyncio.wait_for(seen[subjects.REPLY_CREATED].get(), 15)
    assert reply.final and reply.kind == "answer"
    assert reply.blocks[0].rows == [["production", "ovh", "online", "5", "c-1"]]
    history = await rt.redis.lrange(rt.keys.history("c3"), 0, -1)
    assert history, "the turn is remembered"


async def test_a_change_hermes_made_to_a_cluster_makes_the_next_request_read_the_list_again(planner_runtime) -> None:
    """A cluster created (or scaled, deprovisioned, applied to) by Hermes is not resolved against the list
    from before the change: the planner forgets it, so the next name is looked up afresh."""
    rt, seen = planner_runtime
    listed = ExecutionResult(conversation_id="c4", correlation_id="m4", order_id="o4", plan_id="p4",
                             outcome="ok", steps=[StepResult(
                                 step_id="s", argv=["cluster", "list"], command="cluster list", outcome="ok",
                                 exit_code=0, data=[{"id": "c-1", "name": "production", "kind": "ovh"}])])
    await bus.publish(rt.broker, listed, subjects.EXEC_RESULT)
    await asyncio.wait_for(seen[subjects.REPLY_CREATED].get(), 15)
    assert await rt.redis.get(rt.keys.clusters()) is not None
    read = ExecutionResult(conversation_id="c4", correlation_id="m5", order_id="o5", plan_id="p5", outcome="ok",
                           steps=[StepResult(
                               step_id="s", argv=["tokens", "list"], command="tokens list", outcome="ok",
                               exit_code=0, data=[])])
    await bus.publish(rt.broker, read, subjects.EXEC_RESULT)
    await asyncio.wait_for(seen[subjects.REPLY_CREATED].get(), 15)
    assert await rt.redis.get(rt.keys.clusters()) is not None, "a read changes nothing"
    deprovisioned = ExecutionResult(
        conversation_id="c4", correlation_id="m6", order_id="o6", plan_id="p6", outcome="ok",
        steps=[StepResult(step_id="s", argv=["cluster", "deprovision", "production"], command="cluster deprovision",
                          outcome="ok", exit_code=0, stdout="Cluster deprovisioned.")])
    await bus.publish(rt.broker, deprovisioned, subjects.EXEC_RESULT)
    await asyncio.wait_for(seen[subjects.REPLY_CREATED].get(), 15)
    assert await rt.redis.get(rt.keys.clusters()) is None
