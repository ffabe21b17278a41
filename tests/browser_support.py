"""A real browser for the tests: Debian's chromium, headless, driven over its DevTools
protocol with aiohttp's websocket client (aiohttp comes with textual-serve).

    async with Browser.start(tmp_path) as browser:
        page = await browser.page()
        await page.call("Page.navigate", url=url)

Only 127.0.0.1 is ever contacted: the flags keep chromium's own background traffic off
(without them this machine's closed network refuses its connections and it stalls), and the
host resolver answers nothing but localhost names.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost", "--window-size=1280,800"]

# Keeps what the page's websocket receives (the app's terminal output) where a test can read
# it: the terminal draws on a canvas, so the screen's text is not in the page's DOM.
CAPTURE_SCRIPT = """
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__received = "";
  function Capturing(url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    socket.addEventListener("message", (e) => {
      if (typeof e.data !== "string") {
        window.__received += decoder.decode(new Uint8Array(e.data), {stream: true});
      }
    });
    return socket;
  }
  Capturing.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Capturing[k] = Native[k];
  window.WebSocket = Capturing;
})();
"""
KEYS = {"enter": ("Enter", "Enter", 13, "\r")}


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Page:
    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        """The DevTools events that arrived while a command waited for its result (all of them
        up to the last command's result)."""

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command and its result."""
        number = next(self._ids)
        await self.socket.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads((await self.socket.receive(timeout=60)).data)
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    async def requested_urls(self) -> list[str]:
        """Every URL the page has asked for, websockets included (needs Network.enable first)."""
        await self.call("Runtime.evaluate", expression="0")  # the events sent before its answer
        urls = []
        for event in self.events:
            if event["method"] == "Network.requestWillBeSent":
                urls.append(event["params"]["request"]["url"])
            elif event["method"] == "Network.webSocketCreated":
                urls.append(event["params"]["url"])
        return urls

    async def wait_for(self, expression: str, what: str, timeout: float = 40.0) -> Any:
        """The first true value of a JavaScript expression, polled until `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} on the page")

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    async def received_text(self) -> str:
        """What the app has sent to the page so far, without the terminal's escape sequences."""
        raw = await self.evaluate("window.__received || ''") or ""
        return re.sub(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Z0-9]|[=>78])", "", raw)

    async def wait_for_text(self, text: str, *, after: int = 0, timeout: float = 40.0) -> int:
        """Wait until `text` has been drawn (after the first `after` characters); its end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = await self.received_text()
            at = received.find(text, after)
            if at >= 0:
                return at + len(text)
            await asyncio.sleep(0.2)
        tail = (await self.received_text())[-600:]
        raise AssertionError(f"timed out after {timeout}s waiting for {text!r} on the page; it last drew: {tail!r}")

    async def press(self, key: str) -> None:
        """A key press as the user's keyboard gives it to the page (to xterm's input)."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        name, code, vk, text = KEYS[key] if key in KEYS else (key, f"Key{key.upper()}", ord(key.upper()), key)
        await self.call("Input.dispatchKeyEvent", type="keyDown", key=name, code=code, windowsVirtualKeyCode=vk,
                        text=text)
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=name, code=code, windowsVirtualKeyCode=vk)

    async def screenshot(self, path: Path) -> Path:
        await self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        data = (await self.call("Page.captureScreenshot", format="png"))["data"]
        path.write_bytes(base64.b64decode(data))
        return path


class Browser:
    def __init__(self, proc: subprocess.Popen, endpoint: str) -> None:
        self.proc, self.endpoint = proc, endpoint
        self.http: Any = None
        self.sockets: list[Any] = []

    @classmethod
    def start(cls, folder: Path, executable: str, timeout: float = 40.0) -> "Browser":
        profile = folder / "chromium-profile"
        profile.mkdir()
        log = (folder / "chromium.log").open("w+")
        proc = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                 "about:blank"], stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log.seek(0)
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", log.read())
            if found:
                return cls(proc, f"http://127.0.0.1:{found.group(1)}")
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        log.seek(0)
        output = log.read()[-2000:]
        cls._end(proc)
        raise AssertionError(f"chromium did not start its DevTools endpoint: {output}")

    async def __aenter__(self) -> "Browser":
        import aiohttp

        self.http = aiohttp.ClientSession()
        return self

    async def page(self) -> Page:
        async with self.http.get(f"{self.endpoint}/json/list") as response:
            targets = await response.json()
        target = next(t for t in targets if t.get("type") == "page")
        socket = await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        self.sockets.append(socket)
        page = Page(socket)
        await page.call("Page.enable")  # without it, scripts added for new documents never run
        return page

    async def __aexit__(self, *exc: object) -> None:
        for socket in self.sockets:
            await socket.close()
        await self.http.close()
        self._end(self.proc)

    @staticmethod
    def _end(proc: subprocess.Popen) -> None:
        """Chromium and its helper processes (its own process group)."""
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
