"""Real headless Chromium (Debian's package) driven by Playwright, against a live Daphne."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import IN_CI
from tests.fake_openai import FakeOpenAI
from tests.servers import ROOT, daphne

CHROMIUM = os.environ.get("SUPPORTBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def _sync_orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM
    # calls are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")  # its event loop must not outlive the module's tests
def browser(django_db_setup: None) -> Iterator[Any]:
    # The test database is set up before Playwright starts its event loop.
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium not found at {CHROMIUM} and CI=true")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server_url(tmp_path: Path, transactional_db: None) -> Iterator[str]:
    """A Daphne process on the test database (in-memory channel layer, local assistant)."""
    with daphne(
        tmp_path, SUPPORTBOT_LOCAL_WORD_DELAY="0.02", SUPPORTBOT_MEDIA_ROOT=str(tmp_path / "media")
    ) as url:
        yield url


@pytest.fixture
def fake_model() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key="test-key").start()
    try:
        yield fake
    finally:
        fake.stop()
    fake.raise_errors()


@pytest.fixture
def ai_server_url(tmp_path: Path, transactional_db: None, fake_model: FakeOpenAI) -> Iterator[str]:
    """Daphne in real-provider mode, pointed at the fake model (no model input screen)."""
    # tests.servers.child_env drops the parent's OPENAI_* settings; these are the only ones.
    with daphne(
        tmp_path,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=fake_model.base_url,
        OPENAI_READ_TIMEOUT="10",
        SUPPORTBOT_MODEL_SCREEN="false",
    ) as url:
        yield url


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
