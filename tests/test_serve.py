"""`workbench serve`: who may connect (the token, loopback names, same-origin pages), what it
prints, and that a browser tab's app imports nothing from the folder serve started in. The
real browser is test_browser.py's."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from workbench.cli.serve import plan_for
from workbench.cli.web_access import cookie_name, refusal
from workbench.engine.errors import WorkbenchError

from serve_support import serving
from support import REPO

aiohttp = pytest.importorskip("aiohttp")  # comes with textual-serve, the [web] extra


def test_loopback_needs_no_token_and_any_other_address_always_gets_one():
    plan = plan_for("127.0.0.1", 8000)
    assert plan.token is None
    lines = plan.lines(8000, Path("/s"))
    assert lines[0].startswith("workbench serve: open http://127.0.0.1:8000/ ")
    assert any("ssh -L 8000:localhost:8000 " in line and "http://localhost:8000/" in line for line in lines)
    assert plan_for("localhost", 1).token is None and plan_for("::1", 1).token is None

    for host in ("0.0.0.0", "::", "10.1.2.3", "myhost.example"):
        plan = plan_for(host, 9000)
        assert plan.token and len(plan.token) >= 32, host
        text = "\n".join(plan.lines(9000, Path("/s")))
        assert f"?token={plan.token}" in plan.url(9000) and "not encrypted" in text
    assert "ssh -L 9000:10.1.2.3:9000 " in "\n".join(plan_for("10.1.2.3", 9000).lines(9000, Path("/s")))
    assert "ssh -L 9000:localhost:9000 " in "\n".join(plan_for("0.0.0.0", 9000).lines(9000, Path("/s")))
    assert "ssh -L 9000:[::1]:9000 " in "\n".join(plan_for("::1", 9000).lines(9000, Path("/s")))
    assert plan_for("0.0.0.0", 1).token != plan_for("0.0.0.0", 1).token  # fresh at each start
    assert plan_for("127.0.0.1", 1, force_token=True).token
    with pytest.raises(WorkbenchError, match="--port"):
        plan_for("127.0.0.1", 70000)


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
