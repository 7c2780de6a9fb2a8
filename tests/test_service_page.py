"""The web page in headless Chromium (Debian's, driven by Playwright): probe, explain, list.

Skipped only when no Chromium is installed (``.ci/setup-chromium`` installs it). With
PROBER_SCREENSHOT=PATH the page is also saved there as a PNG (the README's picture).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_kit import Mail, Server, database

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BOUNCES = Path(__file__).parent.parent / "fixtures" / "bounces"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (run .ci/setup-chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Mail() as mail, database("sqlite", tmp_path_factory.mktemp("page")) as db:
        with Server(db, ["--no-auth", "--allow-private", *mail.args()]) as running:
            yield running


@pytest.fixture()
def page(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="prober-chromium-")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=FLAGS,
                viewport={"width": 1000, "height": 1100},
                accept_downloads=True,
                locale="en-GB",
            )
            try:
                tab = browser.new_page()
                tab.set_default_timeout(30_000)
                tab.goto(server.url + "/")
                tab.wait_for_selector("body[data-ready=true]")
                yield tab
            finally:
                browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_every_field_has_a_label(page: Any) -> None:
    fields = page.eval_on_selector_all(
        "input, textarea",
        "els => els.filter(e => !e.closest('[hidden]')).map(e => "
        "[e.id, !!(e.labels && e.labels.length)])",
    )
    assert fields and all(labelled for _id, labelled in fields), fields


def test_type_an_address_and_watch_the_verdict_and_transcript(page: Any) -> None:
    page.get_by_label("Address", exact=True).fill("alice@example.test")
    page.get_by_label("Address", exact=True).press("Enter")  # the keyboard alone is enough
    page.wait_for_selector("#verdict.deliverable")
    assert page.inner_text("#verdict").startswith("Deliverable")
    transcript = page.inner_text("#transcript")
    assert "RCPT" in transcript and "RCPT TO:<alice@example.test>" in transcript
    assert "250" in transcript
    assert "Connecting to mx.example.test" in transcript  # arrived as it happened

    page.get_by_label("Address", exact=True).fill("nobody@example.test")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#verdict.undeliverable")
    assert "mailbox_unknown" in page.inner_text("#verdict")
    if os.environ.get("PROBER_SCREENSHOT"):
        page.get_by_label("Paste an SMTP reply").fill("550 5.7.1 Service unavailable; client "
                                                       "host blocked using zen.spamhaus.org")
        page.get_by_role("button", name="Explain").click()
        page.wait_for_selector("#explain-out .category")
        page.screenshot(path=os.environ["PROBER_SCREENSHOT"], full_page=True)


def test_paste_a_bounce_and_see_its_category(page: Any) -> None:
    bounce = (BOUNCES / "gmail-dsn-user-unknown.eml").read_text(errors="replace")
    page.get_by_label("Paste an SMTP reply").fill(bounce)
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector("#explain-out .category")
    assert page.inner_text("#explain-out .category") == "mailbox_unknown"
    assert "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp" in page.inner_text("#explain-out")

    page.get_by_label("Paste an SMTP reply").fill("452 4.2.2 Mailbox full")
    page.get_by_role("button", name="Explain").click()
    page.wait_for_function(
        "document.querySelector('#explain-out .category')?.textContent === 'mailbox_full'"
    )


def test_in_italian(page: Any) -> None:
    page.get_by_role("button", name="Italiano").click()
    assert page.inner_text("#probe-title") == "Verificare un indirizzo"
    assert page.get_attribute("html", "lang") == "it"
    page.get_by_label("Indirizzo", exact=True).fill("nobody@example.test")
    page.get_by_role("button", name="Verificare").click()
    page.wait_for_selector("#verdict.undeliverable")
    assert page.inner_text("#verdict").startswith("Non consegnabile")
    assert "inesistente" in page.inner_text("#summary") or "non esiste" in page.inner_text(
        "#summary"
    )


def test_upload_a_list_watch_it_and_download_the_results(page: Any, tmp_path: Path) -> None:
    upload = tmp_path / "people.csv"
    upload.write_text("name,email\nAlice,alice@example.test\nBob,bob@example.test\n")
    page.set_input_files("#list-file", str(upload))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_function("document.querySelector('#list-status').textContent.includes('(done)')")
    status = page.inner_text("#list-status")
    assert status.startswith("2 of 2 done") and "Deliverable: 1" in status
    assert "Undeliverable: 1" in status
    with page.expect_download() as got:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(got.value.path()).read_text()
    lines = text.splitlines()
    assert lines[0].startswith("name,email,verdict,reason")
    assert lines[1].startswith("Alice,alice@example.test,deliverable,accepted")
    assert lines[2].startswith("Bob,bob@example.test,undeliverable,mailbox_unknown")
