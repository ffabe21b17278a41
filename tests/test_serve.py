"""`workbench serve`: who may connect (the token, loopback names, same-origin pages), how many
at once (the cap, quiet tabs dropped), what it prints (every spelling of the wildcard address
alike), a page that asks nothing of another host, and that a browser tab's app imports nothing
from the folder serve started in. The real browser is test_browser.py's."""
from __future__ import annotations

import asyncio
import base64
import functools
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from workbench.cli.serve import plan_for
from workbench.cli.web_access import cookie_name, refusal
from workbench.engine.errors import WorkbenchError

from serve_support import Served, served, serving
from support import REPO, run_cli

aiohttp = pytest.importorskip("aiohttp")  # comes with textual-serve, the [web] extra

_plan = functools.partial(plan_for, max_viewers=8, quiet_timeout=30.0)


def test_loopback_needs_no_token_and_any_other_address_always_gets_one():
    plan = _plan("127.0.0.1", 8000)
    assert plan.token is None
    lines = plan.lines(8000, Path("/s"))
    assert lines[0].startswith("workbench serve: open http://127.0.0.1:8000/ ")
    assert any("ssh -L 8000:localhost:8000 " in line and "http://localhost:8000/" in line for line in lines)
    assert _plan("localhost", 1).token is None and _plan("::1", 1).token is None

    for host in ("0.0.0.0", "::", "10.1.2.3", "myhost.example"):
        plan = _plan(host, 9000)
        assert plan.token and len(plan.token) >= 32, host
        text = "\n".join(plan.lines(9000, Path("/s")))
        assert f"?token={plan.token}" in plan.url(9000) and "not encrypted" in text
    assert "ssh -L 9000:10.1.2.3:9000 " in "\n".join(_plan("10.1.2.3", 9000).lines(9000, Path("/s")))
    assert "ssh -L 9000:localhost:9000 " in "\n".join(_plan("0.0.0.0", 9000).lines(9000, Path("/s")))
    assert "ssh -L 9000:[::1]:9000 " in "\n".join(_plan("::1", 9000).lines(9000, Path("/s")))
    assert _plan("0.0.0.0", 1).token != _plan("0.0.0.0", 1).token  # fresh at each start
    assert _plan("127.0.0.1", 1, force_token=True).token
    with pytest.raises(WorkbenchError, match="--port"):
        _plan("127.0.0.1", 70000)


def test_every_spelling_of_the_wildcard_address_is_every_address():
    name = socket.gethostname()
    for host, bound, family in (("0", "0.0.0.0", "IPv4"), ("0.0", "0.0.0.0", "IPv4"), ("0.0.0.0", "0.0.0.0", "IPv4"),
                                ("0x0", "0.0.0.0", "IPv4"), ("::", "::", "IPv6"), ("[::]", "::", "IPv6"),
                                ("::0", "::", "IPv6"), ("0:0:0:0:0:0:0:0", "::", "IPv6"),
                                ("", "", "IPv4 and IPv6"), (" ", "", "IPv4 and IPv6")):
        plan = _plan(host, 9000)
        assert plan.host == bound and plan.token, host  # bound as the resolver spells it
        text = "\n".join(plan.lines(9000, Path("/s")))
        assert f"open http://{name}:9000/?token={plan.token} " in text, (host, text)
        assert "listening on every address of this machine" in text and family in text, (host, text)
        # `::` is IPv6 only (asyncio sets IPV6_V6ONLY), where "localhost" may mean 127.0.0.1
        tunnel = "[::1]" if family == "IPv6" else "localhost"
        assert f"ssh -L 9000:{tunnel}:9000 {name} " in text, (host, text)
        assert not re.search(r"http://(0|0\.0|\[::\]|\[::0\]|\[0:0:0:0:0:0:0:0\]|):", text), (host, text)
    for host in ("127.0.0.1", "::1", "10.1.2.3", "myhost.example", "0.0.0.1"):
        assert "listening on every" not in "\n".join(_plan(host, 9000).lines(9000, Path("/s"))), host
    assert _plan("127.1", 1).host == "127.0.0.1" and _plan("127.1", 1).token is None  # loopback, in short
    assert _plan("[::1]", 1).host == "::1" and _plan("[::1]", 1).token is None


def test_the_viewer_cap_and_the_quiet_timeout_are_checked(tmp_path):
    assert "8 at most at once (--max-viewers)" in "\n".join(_plan("127.0.0.1", 1).lines(1, Path("/s")))
    with pytest.raises(WorkbenchError, match="--max-viewers must be at least 1, got 0"):
        plan_for("127.0.0.1", 8000, max_viewers=0, quiet_timeout=30.0)
    with pytest.raises(WorkbenchError, match="--quiet-timeout"):
        plan_for("127.0.0.1", 8000, max_viewers=8, quiet_timeout=0.0)
    r = run_cli("serve", "--max-viewers", "0", "--port", "0", "--sessions-dir", str(tmp_path / "s"), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "", r
    assert r.stderr.startswith("workbench: error: --max-viewers") and r.stderr.count("\n") == 1, r.stderr


def test_the_access_rules():
    token = "s3cret-token"
    assert refusal(None, "localhost:8000", None, (None, None)) is None
    assert refusal(None, "127.0.0.1:8000", "http://127.0.0.1:8000", (None, None)) is None
    assert refusal(None, "[::1]:8000", None, (None, None)) is None
    assert refusal(None, "evil.example:8000", None, (None, None))[0] == 403  # DNS rebinding
    assert refusal(None, "localhost:8000", "http://evil.example", (None, None))[0] == 403  # another site's page
    assert refusal(None, "localhost:8000", "null", (None, None))[0] == 403
    assert refusal(None, 'localhost:8000"><script>', None, (None, None))[0] == 400
    assert refusal(token, "box.example:8000", None, (None, None))[0] == 401
    assert refusal(token, "box.example:8000", None, ("wrong", "wrönger"))[0] == 401
    assert refusal(token, "box.example:8000", None, (token, None)) is None
    assert refusal(token, "box.example:8000", "http://box.example:8000", (None, token)) is None
    assert refusal(token, "box.example:8000", "http://evil.example", (token, token))[0] == 403


async def _handshake_status(url: str, **headers: str) -> int:
    """101 when the websocket opened (then closed again), else the HTTP status of the refusal."""
    async with aiohttp.ClientSession() as http:
        try:
            socket = await http.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await socket.close()
        return 101


async def _check_token_server(url: str) -> None:
    parts = urlsplit(url)
    token = parse_qs(parts.query)["token"][0]
    base, ws = f"http://{parts.netloc}", f"ws://{parts.netloc}/ws"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        for path in ("/", "/ws", "/static/js/textual.js", "/download/x", f"/?token={token}x"):
            async with http.get(base + path) as response:
                assert response.status == 401, (path, response.status)
                assert "token" in await response.text()
        async with http.get(url) as response:
            assert response.status == 200
            page = await response.text()
            cookie = response.cookies[cookie_name(parts.port)]
            assert cookie.value == token and cookie["httponly"] and cookie["samesite"] == "Strict"
        assert f'data-session-websocket-url="{ws}"' in page  # from the request's Host: works through a tunnel
        async with http.get(base + "/static/js/textual.js", headers={"Cookie": f"{cookie.key}={token}"}) as r:
            assert r.status == 200
    assert await _handshake_status(ws) == 401
    assert await _handshake_status(ws, Cookie=f"{cookie.key}=guess") == 401
    assert await _handshake_status(ws, Cookie=f"{cookie.key}={token}", Origin="http://evil.example") == 403
    assert await _handshake_status(ws, Cookie=f"{cookie.key}={token}", Origin=base) == 101


def test_the_token_guards_the_page_and_the_websocket(tmp_path):
    sessions = tmp_path / "sessions"
    with serving(sessions, "--token", cwd=tmp_path) as url:
        assert "?token=" in url
        asyncio.run(_check_token_server(url))


async def _check_loopback_server(url: str, marker: Path) -> None:
    parts = urlsplit(url)
    ws = f"ws://{parts.netloc}/ws?width=100&height=30"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200 and "Set-Cookie" not in response.headers
        async with http.get(url, headers={"Host": f"evil.example:{parts.port}"}) as response:
            assert response.status == 403  # a rebound DNS name
        assert await _handshake_status(ws, Origin="http://evil.example") == 403  # another site's page
        socket = await http.ws_connect(ws, headers={"Origin": f"http://{parts.netloc}"})
        try:  # the tab's app starts and draws
            received = b""
            while b"workbench" not in received:
                message = await socket.receive(timeout=60)
                assert message.type == aiohttp.WSMsgType.BINARY, message
                received += message.data
        finally:
            await socket.close()
    assert not marker.exists(), "the tab's app imported the workbench/ planted in serve's folder"


def test_without_a_token_only_loopback_names_and_its_own_pages_get_in(tmp_path):
    here = tmp_path / "here"
    (here / "workbench").mkdir(parents=True)
    marker = tmp_path / "imported"
    (here / "workbench" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('planted')\n")
    with serving(tmp_path / "sessions", cwd=here) as url:
        assert "token" not in url and url.startswith("http://127.0.0.1:")
        asyncio.run(_check_loopback_server(url, marker))


def test_help_imports_neither_torch_nor_an_extra():
    code = ("import sys\nfrom workbench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'textual', 'textual_serve', 'aiohttp', 'tensorboard')]\nassert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr


# ---- how many at once: the cap, and quiet tabs dropped ----------------------------------------

async def _first_frame(socket_: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The first message that is not a ping (which an autoping=False client sees too)."""
    while True:
        message = await socket_.receive(timeout=60)
        if message.type not in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            return message


_readers: set[asyncio.Task] = set()


def _keep_reading(socket_: aiohttp.ClientWebSocketResponse) -> None:
    """Read on, as a browser does, so that its pings are answered: a tab held open for as long
    as a slow machine takes is never dropped as quiet."""
    async def read() -> None:
        async for _ in socket_:
            pass

    task = asyncio.create_task(read())
    _readers.add(task)
    task.add_done_callback(_readers.discard)


async def _open_tab(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    """A websocket whose app has started (its first bytes came), read on from then."""
    socket_ = await http.ws_connect(url)
    message = await _first_frame(socket_)
    assert message.type == aiohttp.WSMsgType.BINARY, (message, socket_.close_code)
    _keep_reading(socket_)
    return socket_


async def _turned_away(http: aiohttp.ClientSession, url: str) -> tuple[int | None, str]:
    """The close code and reason of a websocket the server accepted and closed at once."""
    socket_ = await http.ws_connect(url)
    message = await _first_frame(socket_)
    assert message.type == aiohttp.WSMsgType.CLOSE, message
    await socket_.close()
    return message.data, message.extra


async def _open_tab_when_free(http: aiohttp.ClientSession, url: str,
                              timeout: float = 60.0) -> aiohttp.ClientWebSocketResponse:
    """A tab, once a place is free (a closed tab's place is free once its app has ended)."""
    deadline = time.monotonic() + timeout
    while True:
        socket_ = await http.ws_connect(url)
        message = await _first_frame(socket_)
        if message.type == aiohttp.WSMsgType.BINARY:
            _keep_reading(socket_)
            return socket_
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 1013, message
        await socket_.close()
        assert time.monotonic() < deadline, "no place came free"
        await asyncio.sleep(0.2)


async def _wait_for(predicate: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _check_cap(server: Served) -> None:
    parts = urlsplit(server.url)
    token = parse_qs(parts.query)["token"][0]
    ws = f"ws://{parts.netloc}/ws?width=80&height=24"
    tab = f"{ws}&token={token}"

    async def refused_all_the_same() -> None:
        # refused before the cap is looked at, so never counted and never a 1013
        for _ in range(3):
            assert await _handshake_status(ws) == 401
            assert await _handshake_status(f"{ws}&token=guess") == 401
            assert await _handshake_status(tab, Origin="http://evil.example") == 403

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        first = await _open_tab(http, tab)
        await refused_all_the_same()
        second = await _open_tab(http, tab)
        await refused_all_the_same()
        code, reason = await _turned_away(http, tab)
        assert code == 1013, (code, reason)  # "try again later"
        assert reason == "workbench serve has reached --max-viewers 2 (tabs open at once): close one, then Restart"
        assert len(server.apps()) == 2
        await first.close()
        third = await _open_tab_when_free(http, tab)
        await _wait_for(lambda: len(server.apps()) == 2, "the closed tab's app to end")
        await second.close()
        await third.close()
    await _wait_for(lambda: not server.apps(), "the tabs' apps to end")
    assert server.log().count("turned away a tab from 127.0.0.1: 2 already open (--max-viewers 2)") >= 1


def test_tabs_past_the_cap_are_turned_away_with_a_reason_and_refusals_never_count(tmp_path):
    with served(tmp_path / "sessions", "--token", "--max-viewers", "2", cwd=tmp_path) as server:
        asyncio.run(_check_cap(server))


def _silent_websocket(netloc: str) -> socket.socket:
    """A websocket handshake, then nothing: never a byte read or sent again (a laptop gone to
    sleep). A small receive buffer and a large terminal, so the app's output backs up."""
    host, port = netloc.rsplit(":", 1)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    raw.settimeout(60)
    raw.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(f"GET /ws?width=400&height=200 HTTP/1.1\r\nHost: {netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        byte = raw.recv(1)
        assert byte, f"the server closed during the handshake: {head!r}"
        head += byte
    assert head.startswith(b"HTTP/1.1 101 "), head
    return raw


def _closed_by_the_server(raw: socket.socket) -> bool:
    """Whether the connection ends (what the server had sent is read first)."""
    try:
        while raw.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    return True


async def _check_quiet_tabs(server: Served) -> None:
    netloc = urlsplit(server.url).netloc
    ws = f"ws://{netloc}/ws?width=80&height=24"
    async with aiohttp.ClientSession() as http:
        # a tab that answers, as a browser does: it stays through both drops below (over 6 s)
        answering = await _open_tab(http, ws)
        (kept,) = server.apps()

        # a client that reads but never answers a ping (nor waits for the app's first bytes: the
        # 3 s may be over before a slow machine has drawn them)
        quiet = await http.ws_connect(ws, autoping=False)
        await _wait_for(lambda: len(server.apps()) == 2, "the quiet tab's app to start")
        await _wait_for(lambda: server.apps() == [kept], "the quiet tab's app to end")
        while (await quiet.receive(timeout=60)).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                                             aiohttp.WSMsgType.ERROR):
            pass  # its pings and what the app had drawn, then the end
        await quiet.close()

        # one that stops reading as well
        raw = _silent_websocket(netloc)
        try:
            await _wait_for(lambda: len(server.apps()) == 2, "the silent tab's app to start")
            await _wait_for(lambda: server.apps() == [kept], "the silent tab's app to end")
            assert await asyncio.to_thread(_closed_by_the_server, raw)
        finally:
            raw.close()
        assert server.log().count("its browser answered nothing for 3 s; its app closes") == 2, server.log()
        assert not answering.closed and server.apps() == [kept]

        # both places are free again (a place is free a moment after its app has gone)
        tabs = [await _open_tab_when_free(http, ws), await _open_tab_when_free(http, ws)]
        for tab in (answering, *tabs):
            await tab.close()


def test_a_tab_that_goes_quiet_is_dropped_and_its_app_ends(tmp_path):
    # three places: the answering tab's, and one for each quiet tab even while the last one's is
    # being given back
    with served(tmp_path / "sessions", "--max-viewers", "3", "--quiet-timeout", "3", cwd=tmp_path) as server:
        asyncio.run(_check_quiet_tabs(server))


# ---- the page, and /ws without a websocket ----------------------------------------------------

async def _check_page_and_plain_ws(server: Served) -> None:
    parts = urlsplit(server.url)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{parts.netloc}/ws") as response:
            assert response.status == 400
            assert (await response.text()).startswith("refused: /ws is the page's websocket")
        async with http.get(server.url) as response:
            assert response.status == 200
            page = await response.text()
        # Nothing from another host (the page must work offline): every URL in it is ours.
        urls = re.findall(r"(?i)\b(?:https?|wss?)://[^\s\"'<>)]+", page)
        assert urls and all(urlsplit(url).netloc == parts.netloc for url in urls), urls
        fonts = re.findall(r"https?://[^\s\"'<>)]+\.ttf", page)
        assert any("RobotoMono" in font for font in fonts), page
        for font in set(fonts):
            async with http.get(font) as response:
                assert response.status == 200 and len(await response.read()) > 10_000, font
    lines = [line for line in server.log().splitlines() if "/ws" in line]
    assert lines == ["workbench serve: refused GET /ws from 127.0.0.1 (400): not a websocket upgrade"], lines


def test_a_plain_get_of_ws_is_a_400_in_one_line_and_the_page_asks_no_other_host(tmp_path):
    with served(tmp_path / "sessions", cwd=tmp_path) as server:  # it also checks: no Traceback
        asyncio.run(_check_page_and_plain_ws(server))
