"""The OpenAPI document is valid, names exactly the routes the gateway serves, and its event
schema accepts the events the gateway writes."""

from __future__ import annotations

from importlib import resources

import jsonschema
import yaml
from hermes.contracts import ApprovalPrompt, Reply, TableBlock, utcnow
from hermes.keys import Keys
from hermes.signing import ServiceKey
from hermes.stores.users import UserDirectory
from hermes_gateway.conversations import message_event, reply_event
from hermes_gateway.http_api import HttpApi, build_http_app
from hermes_gateway.people import People
from openapi_spec_validator.shortcuts import get_validator_cls


def _document() -> dict:
    return yaml.safe_load(resources.files("hermes_gateway").joinpath("openapi.yaml").read_text())


def test_openapi_document_is_valid() -> None:
    document = _document()
    validator = get_validator_cls(document)(document)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors()]
    assert errors == []


def test_openapi_paths_are_the_routes_the_gateway_serves() -> None:
    api = HttpApi(None, None, None, None, None, 1)  # type: ignore[arg-type]
    app = build_http_app(api, People(UserDirectory(None, Keys()), ServiceKey.generate("gateway")))  # type: ignore[arg-type]
    served = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        served.add((route.resource.canonical, route.method.lower()))
    documented = {(path, method) for path, ops in _document()["paths"].items() for method in ops}
    assert served == documented


def _event_schema() -> dict:
    doc = _document()
    return {"$ref": "#/components/schemas/Event", "components": doc["components"]}


def test_events_the_gateway_writes_match_the_documented_schema() -> None:
    reply = Reply(conversation_id="c", correlation_id="m", kind="approval", final=True, text="ok",
                  blocks=[TableBlock(columns=["A"], rows=[["1"]])],
                  approval=ApprovalPrompt(approval_id="apr-1", plan_hash="h", summary="s",
                                          steps=[["cluster", "list"]], expires_at=utcnow()))
    for event in (reply_event(reply), message_event("m", "m", "hello", "alice")):
        event["cursor"] = "1-0"
        jsonschema.validate(event, _event_schema())
    broken = reply_event(reply) | {"cursor": "1-0", "final": "yes"}
    try:
        jsonschema.validate(broken, _event_schema())
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a non-boolean `final` must not validate")


def _schema(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}", "components": _document()["components"]}


def test_request_bodies_name_no_user_and_a_body_with_one_is_refused() -> None:
    """Who asks comes from the bearer token: the request schemas have no `user`, and a body with one
    does not validate (the gateway answers 400)."""
    doc = _document()
    for name in ("MessageIn", "DecisionIn"):
        schema = doc["components"]["schemas"][name]
        assert "user" not in schema["properties"], name
    jsonschema.validate({"text": "hi", "conversation_id": "c1"}, _schema("MessageIn"))
    jsonschema.validate({"decision": "approve"}, _schema("DecisionIn"))
    for body, name in (({"text": "hi", "user": "bob"}, "MessageIn"), ({"decision": "approve", "user": "bob"}, "DecisionIn")):
        try:
            jsonschema.validate(body, _schema(name))
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"{name} must not accept a `user`")
    for path in ("/v1/messages", "/v1/approvals/{approval_id}"):
        assert "400" in doc["paths"][path]["post"]["responses"], path


def test_whoami_and_the_visibility_rules_are_documented() -> None:
    doc = _document()
    whoami = doc["paths"]["/v1/whoami"]["get"]
    answer = whoami["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/WhoAmI"}
    jsonschema.validate({"user": "alice", "roles": ["operator", "approver"], "channel": "http",
                         "at": "2026-01-01T00:00:00+00:00"}, _schema("WhoAmI"))
    for path, method in (("/v1/conversations/{conversation_id}/events", "get"), ("/v1/messages", "post"),
                         ("/v1/approvals/{approval_id}", "post")):
        assert "404" in doc["paths"][path][method]["responses"], path
        assert "admin" in doc["paths"][path][method]["description"], path
    assert "may decide" in doc["paths"]["/v1/approvals"]["get"]["description"]


def _resolve(doc: dict, item: dict) -> dict:
    while "$ref" in item:
        item = doc["components"][item["$ref"].split("/")[-2]][item["$ref"].split("/")[-1]]
    return item


def test_the_retry_contract_is_documented() -> None:
    """Idempotency-Key on both POST routes; 503/409/429 carry Retry-After; 422 for a reused key; the
    202 answers say queued or recovering."""
    doc = _document()
    for path in ("/v1/messages", "/v1/approvals/{approval_id}"):
        post = doc["paths"][path]["post"]
        names = [_resolve(doc, p)["name"] for p in post["parameters"]]
        assert "Idempotency-Key" in names, path
        for code in ("409", "503"):
            assert "Retry-After" in _resolve(doc, post["responses"][code])["headers"], (path, code)
        assert "422" in post["responses"], path
        assert "Idempotent-Replayed" in post["responses"]["202"]["headers"], path
    events = doc["paths"]["/v1/conversations/{conversation_id}/events"]["get"]["responses"]
    assert "Retry-After" in _resolve(doc, events["429"])["headers"]
    assert "Retry-After" in _resolve(doc, events["503"])["headers"]
    for name in ("Accepted", "DecisionAccepted"):
        assert "status" in doc["components"]["schemas"][name]["required"], name
    assert doc["components"]["schemas"]["QueueStatus"]["enum"] == ["queued", "recovering"]
    assert "recovering" in doc["info"]["description"] and "Idempotency-Key" in doc["info"]["description"]


async def test_the_gateways_answers_match_the_documented_schemas(fresh_nats, redis_server, redis_prefix) -> None:
    from tests.integration.test_http_faults import running_gateway

    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        status, body, _h = await gw.post("/v1/messages", {"text": "hello"}, key="k-1")
        assert status == 202
        jsonschema.validate(body, _schema("Accepted"))
        for bad in (body | {"status": "maybe"}, {k: v for k, v in body.items() if k != "status"}):
            try:
                jsonschema.validate(bad, _schema("Accepted"))
            except jsonschema.ValidationError:
                continue
            raise AssertionError(f"{bad} must not validate")
        status, body, _h = await gw.post("/v1/messages", {"text": "other"}, key="k-1")
        assert status == 422
        jsonschema.validate(body, _schema("Error"))
