"""The web server of `workbench serve`: textual-serve's Server (one app process per browser
tab, driven over a websocket), with these changes.

* Every request passes web_access.py's rules before textual-serve sees it.
* The page is our own (web_page/index.html): nothing in it comes from another host, and it
  shows why its websocket closed when the server says.
* The page's URLs (its websocket, its scripts) are built from the request's own Host, not from
  the address we listen on, so the page works through an SSH tunnel to another local port, on
  0.0.0.0, or behind a proxy that passes the Host (https through X-Forwarded-Proto).
* At most `max_viewers` tabs at once, each an app process: the next websocket is accepted and
  closed at once with a reason the page shows, since a browser hides the HTTP status of a
  refused handshake from the page. Only requests that passed the rules are counted.
* A tab whose browser answers nothing, not even pings, for `quiet_timeout` seconds is dropped
  and its app ended, even if it also stopped reading (its unsent output would otherwise keep
  the connection and the app waiting for ever).
* A plain GET of /ws is a 400 with a reason and one line in the log (textual-serve logs two
  tracebacks and sends no reply).
* It listens and stops on its own terms: port 0 takes a free port (and says which), Ctrl-C,
  SIGTERM or SIGHUP close every tab's app (textual-serve asks each to quit; trainers are not
  theirs and keep running) and then the server.

Imported only by `workbench serve`, once textual-serve is known to be installed.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp_jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from workbench.cli.web_access import cookie_name, refusal
from workbench.engine.errors import WorkbenchError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PAGE_FOLDER = Path(__file__).with_name("web_page")
APP_QUIT_TIMEOUT = 10.0
"""Seconds for each step of ending a tab's app: asked to quit (textual-serve's stop, then its
exit), then SIGTERM, then SIGKILL."""
CLOSE_TIMEOUT = 10.0
"""Seconds a closing handshake may take before the connection is cut."""
STOP_TIMEOUT = APP_QUIT_TIMEOUT * 3 + CLOSE_TIMEOUT
"""Seconds serve waits for its tabs to end when it stops."""
CLOSE_REASON_BYTES = 123  # what a websocket close frame has room for
NOT_A_WEBSOCKET = ("refused: /ws is the page's websocket, and this request does not ask for one "
                   "(no Upgrade: websocket); open the page instead")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("workbench.serve")


class WebServer(Server):
    """textual-serve's Server behind our rules, with our page, a cap and a quiet timeout."""

    def __init__(self, command: str, *, host: str, port: int, token: str | None, max_viewers: int,
                 quiet_timeout: float, announce: Callable[[int], None]) -> None:
        super().__init__(command, host=host, port=port, title="workbench", templates_path=PAGE_FOLDER)
        self.token = token
        self.max_viewers = max_viewers
        self.quiet_timeout = quiet_timeout
        self.announce = announce
        self.cookie = cookie_name(port)
        self._viewers: set[asyncio.Task[Any]] = set()
        """The handlers of the tabs whose app runs (or is ending): the count the cap applies to,
        and what shutdown ends."""

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard())
        return app

    def _guard(self) -> Any:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            given = (request.query.get("token"), request.cookies.get(self.cookie))
            refused = refusal(self.token, request.host, request.headers.get("Origin"), given)
            if refused is not None:
                status, reason = refused
                return web.Response(status=status, text=reason + "\n")
            response = await handler(request)
            if self.token and request.path == "/" and request.query.get("token"):
                # The page's script opens its websocket (and loads its files) without the query.
                response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
            return response

        return guard

    @aiohttp_jinja2.template("index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        https = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        host = request.host  # checked by the guard: a plain host[:port]
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{'wss' if https else 'ws'}://{host}/ws",
            "config": {"static": {"url": f"{'https' if https else 'http'}://{host}/static/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """One tab: its app runs while its websocket is open (reached only past the guard)."""
        # aiohttp pings after `heartbeat` seconds without a word from the browser and gives up
        # half as long again later: silence of quiet_timeout in all.
        websocket = web.WebSocketResponse(heartbeat=self.quiet_timeout / 1.5)
        if not websocket.can_prepare(request).ok:
            log.warning("refused %s /ws from %s (400): not a websocket upgrade", request.method, request.remote)
            return web.Response(status=400, text=NOT_A_WEBSOCKET + "\n")
        if len(self._viewers) >= self.max_viewers:
            return await self._turn_away(request)
        # Counted before the first await, so that tabs arriving together cannot all pass the check.
        task = asyncio.current_task()
        assert task is not None
        self._viewers.add(task)
        try:
            await self._view(websocket, request)
        finally:
            self._viewers.discard(task)
        return websocket

    async def _turn_away(self, request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse()
        await websocket.prepare(request)
        log.warning("turned away a tab from %s: %d already open (--max-viewers %d)", request.remote,
                    len(self._viewers), self.max_viewers)
        reason = (f"workbench serve has reached --max-viewers {self.max_viewers} (tabs open at once): "
                  "close one, then Restart")
        await _hang_up(websocket, request, WSCloseCode.TRY_AGAIN_LATER, reason)
        return websocket

    async def _view(self, websocket: web.WebSocketResponse, request: web.Request) -> None:
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        await websocket.prepare(request)
        service = AppService(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                             close=websocket.close, download_manager=self.download_manager, debug=self.debug)
        try:
            await service.start(width, height)
        except OSError as exc:  # no process to be had (a limit on processes or open files)
            log.warning("could not start the app of a tab from %s: %s", request.remote, exc.strerror or exc)
            await _hang_up(websocket, request, WSCloseCode.INTERNAL_ERROR,
                           f"workbench serve could not start the app: {exc.strerror or exc}")
            return
        try:
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            # serve is stopping (on_shutdown): the page says so rather than "Session ended."
            await _hang_up(websocket, request, WSCloseCode.GOING_AWAY, "workbench serve stopped")
        except ConnectionError:
            pass  # gone while we answered its ping
        except Exception as exc:  # a message no page of ours sends (textual-serve asserts on it)
            log.warning("closed the websocket of a tab from %s: it sent a message that is not the page's "
                        "(%s)", request.remote, type(exc).__name__)
            await _hang_up(websocket, request, WSCloseCode.UNSUPPORTED_DATA, "unexpected message")
        finally:
            if isinstance(websocket.exception(), asyncio.TimeoutError):  # aiohttp's "no PONG received"
                log.warning("dropped a tab from %s: its browser answered nothing for %g s; its app closes",
                            request.remote, self.quiet_timeout)
            _cut_if_stuck(request)
            await _end_app(service)

    async def on_startup(self, app: web.Application) -> None:
        """(textual-serve prints its banner here; `announce` says what matters once we listen.)"""

    async def on_shutdown(self, app: web.Application) -> None:
        tasks = list(self._viewers)
        for task in tasks:
            task.cancel()  # each tab's handler then closes its socket and asks its app to quit
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)

    def run(self) -> int:
        logging.basicConfig(level=logging.WARNING, format="workbench serve: %(message)s")
        asyncio.run(self._serve())
        return 0

    async def _serve(self) -> None:
        runner = web.AppRunner(await self._make_app(), handle_signals=False, access_log=None,
                               shutdown_timeout=STOP_TIMEOUT)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, self.host, self.port).start()
            except OSError as exc:
                raise WorkbenchError(f"cannot listen on {self.host} port {self.port}: {exc.strerror or exc} "
                                     "(another --port, or 0 for any free one)") from None
            self.port = runner.addresses[0][1]
            self.cookie = cookie_name(self.port)
            self.announce(self.port)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in STOP_SIGNALS:
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            print("workbench serve: stopping (the browser tabs' apps close; trainers keep running)", flush=True)
        finally:
            await runner.cleanup()


async def _hang_up(websocket: web.WebSocketResponse, request: web.Request, code: int, reason: str) -> None:
    """Close with a reason the page shows; cut the connection if the peer does not take it."""
    try:
        # cut to what a close frame holds, never inside a character
        message = reason.encode()[:CLOSE_REASON_BYTES].decode("utf-8", "ignore").encode()
        await asyncio.wait_for(websocket.close(code=code, message=message), CLOSE_TIMEOUT)
    except asyncio.TimeoutError:
        pass
    _cut_if_stuck(request)


def _cut_if_stuck(request: web.Request) -> None:
    """A connection whose close was asked for but which still holds output the peer never read
    stays open (asyncio flushes before closing), and so does any write waiting on it: abort it."""
    transport = request.transport
    if transport is not None and transport.is_closing():
        transport.abort()


async def _end_app(service: AppService) -> None:
    """Ask a tab's app to quit and make sure it has: textual-serve asks, and waits for ever."""
    process = getattr(service, "_process", None)  # textual-serve 1.1 keeps its process there
    try:
        await asyncio.wait_for(service.stop(), APP_QUIT_TIMEOUT)
    except asyncio.TimeoutError:
        pass
    if process is None or process.returncode is not None:
        return
    for end, name in ((process.terminate, "SIGTERM"), (process.kill, "SIGKILL")):
        try:
            await asyncio.wait_for(process.wait(), APP_QUIT_TIMEOUT)
            return
        except asyncio.TimeoutError:
            log.warning("a tab's app (pid %d) did not quit when asked: sending it %s", process.pid, name)
        try:
            end()
        except ProcessLookupError:
            return
    await process.wait()
