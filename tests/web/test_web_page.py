"""The web page in a real browser: Debian's chromium, headless, driven by Playwright, against the whole
of Hermes running (four services, their own NATS and Redis, the Ankra emulator).

The guide's design request is typed into the page; the drafted architecture and the bill of materials
show as a table; the approval shows in the chat and in "Pending approvals"; Approve is clicked; the
progress and the build result show, and the emulator's call log proves the build ran once.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import HermesStack, running_hermes

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
    page, problems = await open_page(browser, hermes, f"#token={hermes.token}")
    assert "token=" not in page.url  # the token left the address bar (it never reached the server)
    await page.fill("[data-testid=user]", "alice")
    await page.click("[data-testid=settings] button[type=submit]")
    await page.fill("[data-testid=text]", GOAL)
    await page.press("[data-testid=text]", "Enter")

    draft = page.locator("[data-testid=event-approval]")
    await expect(draft).to_have_count(1, timeout=60_000)
    await expect(draft.locator("pre").first).to_contain_text("app-data (stack)")
    bill = draft.locator("table[data-testid=table]")
    await expect(bill.locator("caption")).to_contain_text("estimate", ignore_case=True)
    await expect(bill.locator("th")).to_contain_text(["component"], ignore_case=True)
    charts = await bill.locator("td").all_inner_texts()
    assert "bitnami/postgresql-ha" in charts and "bitnami/redis" in charts
    await expect(draft.locator("[data-testid=commands]")).to_have_text(
        "ankra cluster apply -f stack.yaml --cluster staging-cluster")
    assert not [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "apply"]]

    pending = page.locator("[data-testid=pending-list] li")
    await expect(pending).to_have_count(1, timeout=15_000)
    await expect(pending.first).to_contain_text("staging-cluster")

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

    # a reload continues the same conversation from the start
    await page.reload()
    await expect(page.locator("[data-testid=event-approval] table")).to_have_count(1, timeout=15_000)


async def test_a_wrong_token_is_explained_and_markup_stays_text(browser, hermes: HermesStack) -> None:
    page, _problems = await open_page(browser, hermes, "#token=not-the-token")
    await expect(page.locator("[data-testid=banner]")).to_contain_text("token was refused", timeout=10_000)
    await expect(page.locator("[data-testid=banner]")).to_contain_text("api-token")
    await page.fill("[data-testid=text]", "list my clusters")
    await page.press("[data-testid=text]", "Enter")
    await expect(page.locator("[data-testid=text]")).to_have_value("list my clusters")  # kept, not lost

    await page.fill("[data-testid=token]", hermes.token)
    await page.click("[data-testid=settings] button[type=submit]")
    markup = '<img src=x onerror="window.__pwned=1"><b>bold</b>'
    await page.fill("[data-testid=text]", markup)
    await page.press("[data-testid=text]", "Enter")
    mine = page.locator("[data-testid=event-message]")
    await expect(mine).to_contain_text(markup, timeout=15_000)
    await expect(page.locator("[data-testid=log] img")).to_have_count(0)
    await expect(page.locator("[data-testid=log] b")).to_have_count(0)
    assert await page.evaluate("window.__pwned === undefined")
    await expect(page.locator("[data-testid=event-answer][data-final=true]")).to_have_count(1, timeout=30_000)
