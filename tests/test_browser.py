"""The workbench in a real browser: `workbench serve`, Debian's chromium headless (installed by
.ci/run), a session training in the background. The page loads, the home screen lists the
session, key presses reach the app (enter opens the session, p pauses its trainer), the screen
says PAUSED and the trainer is paused; a screenshot is kept as the test's artifact."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest

from browser_support import CAPTURE_SCRIPT, Browser, find_chromium
from serve_support import serving
from support import make_session, small_text, wait_until

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; "
                                                         ".ci/run installs it)")
pytest.importorskip("textual_serve", reason="the [web] extra is not installed")


async def _drive(url: str, session, tmp_path) -> None:
    async with Browser.start(tmp_path, CHROMIUM) as browser:
        page = await browser.page()
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE_SCRIPT)
        await page.call("Page.navigate", url=url)
        await page.wait_for_text(session.name)  # the home screen lists it
        await page.press("enter")
        # its training screen: the status line's figure, not RUNNING, which the list shows too
        seen = await page.wait_for_text("best full val")
        await page.press("p")
        await page.wait_for_text("PAUSED", after=seen)
        wait_until(lambda: session.read_status().get("state") == "paused", "the trainer to pause", timeout=30)
        shot = await page.screenshot(tmp_path / "workbench-in-chromium.png")
        print(f"\nscreenshot of the workbench in chromium: {shot}")
        assert shot.stat().st_size > 10_000, "the screenshot looks empty"


def test_the_workbench_in_a_real_browser(tmp_path):
    from workbench.engine.launcher import start_trainer

    sessions = tmp_path / "sessions"
    session = make_session(sessions, small_text(tmp_path), name="in-a-browser", max_steps=10_000_000, threads=1)
    pid = start_trainer(session, sessions)
    try:
        with serving(sessions, cwd=tmp_path) as url:
            asyncio.run(_drive(url, session, tmp_path))
    finally:
        try:
            os.kill(pid, signal.SIGTERM)  # checkpoint and exit
        except ProcessLookupError:
            pass
        wait_until(lambda: session.lock_holder() is None, "the trainer to exit", timeout=60)
