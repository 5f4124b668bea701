"""The web page in a real browser: Debian's chromium, headless, driven by Playwright, against the whole
of Hermes running (four services, their own NATS and Redis, the Ankra emulator).

The page signs in with the personal token of a user made in Redis (as `hermes users add` does) and
shows who that is; the guide's design request is typed into the page; the drafted architecture and
the bill of materials show as a table; the approval shows in the chat and in "Pending approvals";
Approve is clicked; the progress and the build result show, and the emulator's call log proves the
build ran once.

The pending-approvals panel's buttons, and a token revoked while signed in, are checked against the
gateway's HTTP app alone (users in a real Redis, scripted approvals).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from hermes.keys import Keys
from hermes.signing import ServiceKey
from hermes.stores.users import UserStore
from hermes_gateway.http_api import HttpApi, build_http_app
from hermes_gateway.people import People

from tests.e2e.conftest import HermesStack, running_hermes
from tests.web.test_web_api import FakeApprovals, pending

CHROMIUM = Path("/usr/bin/chromium")
GOAL = "My app needs a Postgres database and a Redis cache on staging. Set it up."

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install chromium; .ci/run installs it)"),
]
async_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
expect = async_api.expect


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"])
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def hermes(tmp_path: Path, stack_servers: tuple[str, str], emulator_state) -> AsyncIterator[HermesStack]:
    async with running_hermes(tmp_path / "logs", *stack_servers, emulator_state, prefix="web") as stack:
        yield stack


async def open_page(browser, stack: HermesStack, fragment: str):
    page = await browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    await page.goto(f"{stack.url}/{fragment}")
    return page, problems


async def test_design_request_approve_in_the_page_and_see_the_build(browser, hermes: HermesStack) -> None:
    token = await hermes.add_user("alice", ("operator", "approver"))
    page, problems = await open_page(browser, hermes, f"#token={token}")
    assert "token=" not in page.url  # the token left the address bar (it never reached the server)
    await expect(page.locator("[data-testid=whoami]")).to_have_text("Signed in as alice (operator, approver)",
                                                                    timeout=10_000)
    await expect(page.locator("[data-testid=signin]")).to_be_hidden()
    await expect(page.locator("[data-testid=user]")).to_have_count(0)  # no name field: the token says who
    await page.fill("[data-testid=text]", GOAL)
    await page.press("[data-testid=text]", "Enter")

    await expect(page.locator("[data-testid=event-message] .who")).to_have_text("alice", timeout=15_000)
    draft = page.locator("[data-testid=event-approval]")
    await expect(draft).to_have_count(1, timeout=60_000)
    await expect(draft.locator("pre").first).to_contain_text("app-data (stack)")
    bill = draft.locator("table[data-testid=table]")
    await expect(bill.locator("caption")).to_contain_text("estimate", ignore_case=True)
    await expect(bill.locator("th")).to_contain_text(["component"], ignore_case=True)
    charts = await bill.locator("td").all_inner_texts()
    assert "bitnami/postgresql-ha" in charts and "bitnami/redis" in charts
    await expect(draft.locator("[data-testid=commands]")).to_have_text(
        "ankra cluster apply -f stack.yaml --cluster staging-cluster --wait")
    assert not [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "apply"]]

    pending = page.locator("[data-testid=pending-list] li")
    await expect(pending).to_have_count(1, timeout=15_000)
    await expect(pending.first).to_contain_text("staging-cluster")
    await expect(pending.first).to_contain_text("asked by alice")
    await expect(pending.first.locator("button.approve")).to_have_count(1)  # one approver: alice may approve

    await draft.locator("button.approve").click()
    await expect(draft.locator("[data-testid=approval-status]")).to_contain_text("Approved", timeout=10_000)
    result = page.locator("[data-testid=event-answer][data-final=true]", has_text="app-data")
    await expect(result).to_have_count(1, timeout=60_000)
    # the steps that ran showed as progress, now marked done
    progress = page.locator(".event.progress")
    assert await progress.count() >= 1
    await expect(page.locator(".event.progress.running")).to_have_count(0)
    await expect(page.locator("[data-testid=pending-empty]")).to_be_visible(timeout=10_000)
    applies = [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "apply"]]
    assert len(applies) == 1 and applies[0]["exit_code"] == 0
    assert problems == []
    if os.environ.get("HERMES_WEB_SCREENSHOT"):  # to look at the page by eye
        await page.set_viewport_size({"width": 1400, "height": 1800})
        await page.screenshot(path=os.environ["HERMES_WEB_SCREENSHOT"], full_page=True)

    # a reload continues the same conversation from the start, still signed in (the tab keeps the token)
    await page.reload()
    await expect(page.locator("[data-testid=whoami]")).to_have_text("Signed in as alice (operator, approver)",
                                                                    timeout=10_000)
    await expect(page.locator("[data-testid=event-approval] table")).to_have_count(1, timeout=15_000)


async def test_a_wrong_token_shows_the_gateways_error_markup_stays_text_and_sign_out_forgets(
        browser, hermes: HermesStack) -> None:
    page, _problems = await open_page(browser, hermes, "#token=not-the-token")
    banner = page.locator("[data-testid=banner]")
    await expect(banner).to_contain_text("The token was refused", timeout=10_000)
    await expect(banner).to_contain_text("invalid bearer token: it is unknown, revoked or rotated")  # the API's
    await expect(banner).to_contain_text("hermes users add")
    await expect(page.locator("[data-testid=account]")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('hermes.token')") is None, "a refused token is not kept"
    await page.fill("[data-testid=text]", "list my clusters")
    await page.press("[data-testid=text]", "Enter")
    await expect(banner).to_contain_text("Sign in")
    await expect(page.locator("[data-testid=text]")).to_have_value("list my clusters")  # kept, not lost

    token = await hermes.add_user("bob", ("viewer",))
    await page.fill("[data-testid=token]", token)
    await page.click("[data-testid=sign-in]")
    await expect(page.locator("[data-testid=whoami]")).to_have_text("Signed in as bob (viewer)", timeout=10_000)
    await expect(banner).to_be_hidden()
    markup = '<img src=x onerror="window.__pwned=1"><b>bold</b>'
    await page.fill("[data-testid=text]", markup)
    await page.press("[data-testid=text]", "Enter")
    mine = page.locator("[data-testid=event-message]")
    await expect(mine).to_contain_text(markup, timeout=15_000)
    await expect(mine.locator(".who")).to_have_text("bob")
    await expect(page.locator("[data-testid=log] img")).to_have_count(0)
    await expect(page.locator("[data-testid=log] b")).to_have_count(0)
    assert await page.evaluate("window.__pwned === undefined")
    # the planner refuses a message carrying shell characters ("<") as a whole, and says so, as text
    refusal = page.locator("[data-testid=event-error][data-final=true]")
    await expect(refusal).to_have_count(1, timeout=30_000)
    await expect(refusal).to_contain_text("shell character “<”")

    await page.click("[data-testid=sign-out]")
    await expect(page.locator("[data-testid=signin]")).to_be_visible()
    await expect(page.locator("[data-testid=account]")).to_be_hidden()
    await expect(page.locator("[data-testid=token]")).to_have_value("")
    await expect(page.locator("[data-testid=log] .event")).to_have_count(0)
    assert await page.evaluate("sessionStorage.getItem('hermes.token')") is None
    await page.reload()
    await expect(banner).to_contain_text("Sign in with your personal token", timeout=10_000)
    await expect(page.locator("[data-testid=account]")).to_be_hidden()


async def test_pending_panel_offers_what_the_guard_allows_and_a_revoked_token_signs_out(
        browser, redis_client: aioredis.Redis, redis_prefix: str) -> None:
    store = UserStore(redis_client, Keys(redis_prefix))
    _alice, token = await store.add("alice", ["operator", "approver"])
    approvals = FakeApprovals([pending("apr-anyone", "carol", ["*"]),
                               pending("apr-alices-own", "alice", ["*"], two_person=True),
                               pending("apr-two-person", "carol", ["*"], two_person=True, approved_by=["dave"])])
    api = HttpApi(None, None, None, approvals, None, 1)  # type: ignore[arg-type]
    server = TestServer(build_http_app(api, People(store, ServiceKey.generate("gateway"))), host="127.0.0.1")
    await server.start_server()
    try:
        page = await browser.new_page()
        await page.goto(str(server.make_url("/")) + f"#token={token}")
        await expect(page.locator("[data-testid=whoami]")).to_have_text("Signed in as alice (operator, approver)",
                                                                        timeout=10_000)
        items = page.locator("[data-testid=pending-list] li")
        await expect(items).to_have_count(3, timeout=10_000)
        anyone = page.locator("[data-testid=pending-apr-anyone]")
        await expect(anyone.locator("button")).to_have_text(["Approve", "Reject"])
        own = page.locator("[data-testid=pending-apr-alices-own]")
        await expect(own.locator("button")).to_have_text(["Withdraw"])  # two-person: never the requester
        await expect(own).to_contain_text("your request: waiting for an approver")
        await expect(own).to_contain_text("needs two approvers")
        second = page.locator("[data-testid=pending-apr-two-person]")
        await expect(second.locator("button")).to_have_text(["Approve", "Reject"])
        await expect(second).to_contain_text("approved so far by dave")

        await store.revoke("alice")  # takes effect at once: the next refresh is refused, and the page signs out
        banner = page.locator("[data-testid=banner]")
        await expect(banner).to_contain_text("The token was refused", timeout=10_000)
        await expect(page.locator("[data-testid=signin]")).to_be_visible()
        await expect(items).to_have_count(0)
        assert await page.evaluate("sessionStorage.getItem('hermes.token')") is None
    finally:
        await server.close()
