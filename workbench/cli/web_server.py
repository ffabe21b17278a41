"""The web server of `workbench serve`: textual-serve's Server (one app process per browser
tab, driven over a websocket), with three changes.

* Every request passes web_access.py's rules before textual-serve sees it.
* The page's URLs (its websocket, its scripts) are built from the request's own Host, not from
  the address we listen on, so the page works through an SSH tunnel to another local port, on
  0.0.0.0, or behind a proxy that passes the Host (https through X-Forwarded-Proto).
* It listens and stops on its own terms: port 0 takes a free port (and says which), Ctrl-C,
  SIGTERM or SIGHUP close every tab's app (textual-serve asks each to quit; trainers are not
  theirs and keep running) and then the server.

Imported only by `workbench serve`, once textual-serve is known to be installed.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any, Awaitable, Callable

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

from workbench.cli.web_access import cookie_name, refusal
from workbench.engine.errors import WorkbenchError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebServer(Server):
    def __init__(self, command: str, *, host: str, port: int, token: str | None,
                 announce: Callable[[int], None]) -> None:
        super().__init__(command, host=host, port=port, title="workbench")
        self.token = token
        self.announce = announce
        self.cookie = cookie_name(port)
        self._sockets: set[asyncio.Task[Any]] = set()
        """The handlers of open websockets (one per tab), ended on shutdown."""

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
            if request.path == "/ws":
                task = asyncio.current_task()
                assert task is not None
                self._sockets.add(task)
                try:
                    return await handler(request)
                finally:
                    self._sockets.discard(task)
            response = await handler(request)
            if self.token and request.path == "/" and request.query.get("token"):
                # The page's script opens its websocket (and loads its files) without the query.
                response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
            return response

        return guard

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        https = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        host = request.host  # checked by the guard: a plain host[:port]
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{'wss' if https else 'ws'}://{host}/ws",
            "config": {"static": {"url": f"{'https' if https else 'http'}://{host}/static/"}},
            "application": {"name": self.title},
        }

    async def on_startup(self, app: web.Application) -> None:
        """(textual-serve prints its banner here; `announce` says what matters once we listen.)"""

    async def on_shutdown(self, app: web.Application) -> None:
        tasks = list(self._sockets)
        for task in tasks:
            task.cancel()  # textual-serve then closes the socket and asks the tab's app to quit
        if tasks:
            await asyncio.wait(tasks, timeout=15)

    def run(self) -> int:
        logging.basicConfig(level=logging.WARNING, format="workbench serve: %(message)s")
        asyncio.run(self._serve())
        return 0

    async def _serve(self) -> None:
        runner = web.AppRunner(await self._make_app(), handle_signals=False, access_log=None, shutdown_timeout=15)
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
