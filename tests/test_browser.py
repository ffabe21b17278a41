"""The workbench in a real browser: `workbench serve`, Debian's chromium headless (installed by
.ci/run), a session training in the background. The page loads, the home screen lists the
session, key presses reach the app (enter opens the session, p pauses its trainer), the screen
says PAUSED and the trainer is paused, and the page asked nothing of another host (its font is
served with it); a screenshot is kept as the test's artifact. A tab past --max-viewers shows why
it has no app."""
from __future__ import annotations

import asyncio
import os
import signal
from urllib.parse import urlsplit

import pytest

from browser_support import CAPTURE_SCRIPT, Browser, find_chromium
from serve_support import serving
from support import make_session, small_text, wait_until

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; "
                                                         ".ci/run installs it)")
pytest.importorskip("textual_serve", reason="the [web] extra is not installed")
aiohttp = pytest.importorskip("aiohttp")  # comes with textual-serve


async def _drive(url: str, session, tmp_path) -> None:
    async with Browser.start(tmp_path, CHROMIUM) as browser:
        page = await browser.page()
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE_SCRIPT)
        await page.call("Network.enable")
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
        await _check_nothing_from_elsewhere(page, url)


async def _check_nothing_from_elsewhere(page, url: str) -> None:
    """Every request the page made went to serve (it must work offline), the font included."""
    ours = urlsplit(url).netloc
    requested = await page.requested_urls()
    assert any("/ws" in u for u in requested) and any(u.endswith(".ttf") for u in requested), requested
    elsewhere = [u for u in requested if not (urlsplit(u).scheme in ("data", "blob") or urlsplit(u).netloc == ours)]
    assert not elsewhere, elsewhere
    loaded = await page.evaluate("[...document.fonts].filter(f => f.family.includes('Roboto Mono') "
                                 "&& f.status === 'loaded').length")
    assert loaded >= 1, "the page's Roboto Mono did not load"


def test_the_workbench_in_a_real_browser(tmp_path):
    from workbench.engine.processes.launcher import start_trainer

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


async def _hold_a_tab(url: str, held: asyncio.Event, done: asyncio.Event) -> None:
    parts = urlsplit(url)
    async with aiohttp.ClientSession() as http:
        socket = await http.ws_connect(f"ws://{parts.netloc}/ws?width=80&height=24")
        message = await socket.receive(timeout=60)
        assert message.type == aiohttp.WSMsgType.BINARY, message  # its app started
        held.set()

        async def read_on() -> None:  # as a browser does: its pings are answered, it is never quiet
            async for _ in socket:
                pass

        reader = asyncio.create_task(read_on())
        await done.wait()
        await socket.close()
        await reader


async def _see_the_cap(url: str, tmp_path) -> None:
    held, done = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_a_tab(url, held, done))
    try:
        await asyncio.wait_for(held.wait(), 60)
        async with Browser.start(tmp_path, CHROMIUM) as browser:
            page = await browser.page()
            await page.call("Page.navigate", url=url)
            # The reason is in the page's "closed" dialog, on top where the user looks.
            said = await page.wait_for(
                "(() => { const m = document.getElementById('closed-message');"
                " if (!document.body.classList.contains('-closed')) return '';"
                " const r = m.getBoundingClientRect();"
                " return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === m"
                " ? m.textContent : ''; })()", "the page to say why it has no app")
            assert "--max-viewers 1" in said and "close one" in said, said
            shot = await page.screenshot(tmp_path / "a-tab-past-the-cap.png")
            assert shot.stat().st_size > 10_000, "the screenshot looks empty"
    finally:
        done.set()
        await holder


def test_a_tab_past_the_cap_says_why_in_the_page(tmp_path):
    with serving(tmp_path / "sessions", "--max-viewers", "1", cwd=tmp_path) as url:
        asyncio.run(_see_the_cap(url, tmp_path))
