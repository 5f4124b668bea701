"""The OpenAPI document is valid, names exactly the routes the gateway serves, and its event
schema accepts the events the gateway writes."""

from __future__ import annotations

from importlib import resources

import jsonschema
import yaml
from openapi_spec_validator import validate

from hermes.contracts import ApprovalPrompt, Reply, TableBlock, utcnow
from hermes_gateway.conversations import message_event, reply_event
from hermes_gateway.http_api import HttpApi, build_http_app


def _document() -> dict:
    return yaml.safe_load(resources.files("hermes_gateway").joinpath("openapi.yaml").read_text())


def test_openapi_document_is_valid() -> None:
    validate(_document())


def test_openapi_paths_are_the_routes_the_gateway_serves() -> None:
    api = HttpApi(log=None, publish=None, approval_lookup=None, ready=None, long_poll_max=1, subjects_=None)
    app = build_http_app(api, token="x" * 20)
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
