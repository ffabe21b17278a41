"""`workbench serve`: the terminal UI in a web browser, served by textual-serve.

Each browser tab runs the same app as a terminal would, in a process of its own (`app_main`),
started by an interpreter that imports nothing from the folder `serve` was started in
(engine/processes/launcher.py's python_command). Trainers are processes of their own already, so a tab
is a viewer like any terminal: closing it detaches, and several tabs can watch one run.

Who may connect (web_access.py's rules): on a loopback address, this machine's users unless
--token; on any other address a random token made at each start is required, carried by the
URL printed here. How many at once: --max-viewers tabs, each an app process (web_server.py
turns the next one away with a message the page shows, and drops a tab whose browser has
stopped answering). textual-serve is an optional extra, imported only once `serve` runs.
"""
from __future__ import annotations

import argparse
import importlib
import os
import secrets
import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from workbench.cli.app import open_app
from workbench.cli.parser import checked_sessions_dir, sessions_dir
from workbench.cli.web_access import address_of, is_loopback, is_wildcard
from workbench.engine.errors import WorkbenchError, reporting_errors
from workbench.engine.processes.launcher import child_environment, python_command

APP_ENTRY = "workbench.cli.serve:app_main"


@dataclass(frozen=True)
class Plan:
    """Where `serve` listens, who may connect, and how many at once."""

    host: str
    """What we listen on, an address in its plain spelling (`::` for `[::]` or `0:0:0:0:0:0:0:0`,
    0.0.0.0 for `0`), a name as given, or empty (every address, IPv4 and IPv6)."""
    port: int
    token: str | None
    """Required by every request when set (made fresh at each start)."""
    max_viewers: int
    """Browser tabs at once, each an app process of its own; the next one is turned away."""
    quiet_timeout: float
    """Seconds a tab's browser may answer nothing (not even a ping) before it is dropped."""

    @property
    def wildcard(self) -> bool:
        return is_wildcard(self.host)

    def url(self, port: int, host: str | None = None) -> str:
        host = host or (socket.gethostname() if self.wildcard else self.host)
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address
        return f"http://{host}:{port}/" + (f"?token={self.token}" if self.token else "")

    def _everywhere(self) -> str:
        """Which addresses a wildcard listens on: asyncio sets IPV6_V6ONLY, so `::` is IPv6 only."""
        address = address_of(self.host)
        if address is None:
            return "0.0.0.0 and ::, IPv4 and IPv6"
        return f"{address}, IPv{address.version}"

    def lines(self, port: int, folder: Path) -> list[str]:
        """What `serve` prints once it listens on `port` (0 asks the system for a free one)."""
        # What the tunnel asks this machine's sshd to connect to: where we listen (an address
        # such as ::1 must be given as itself: "localhost" may resolve to 127.0.0.1 only, and
        # `::` listens on IPv6 alone).
        address = address_of(self.host)
        if self.wildcard:
            remote = "::1" if address is not None and address.version == 6 else "localhost"
        else:
            remote = "localhost" if self.host in ("127.0.0.1", "localhost") else self.host
        remote = f"[{remote}]" if ":" in remote else remote
        lines = [f"workbench serve: open {self.url(port)} (sessions in {folder})"]
        if self.wildcard:
            lines.append(f"  listening on every address of this machine ({self._everywhere()}), port {port}")
        lines.append(f"  from your laptop: ssh -L {port}:{remote}:{port} {socket.gethostname()}   then open "
                     f"{self.url(port, 'localhost')}")
        if self.token:
            lines.append("  the token in the URL is required by every request (made at each start); the traffic "
                         "is not encrypted: use the tunnel, or a TLS proxy")
        else:
            lines.append("  no token: any user of this machine can connect; --token requires one")
        lines.append(f"  each browser tab is an app of its own, {self.max_viewers} at most at once (--max-viewers): "
                     "closing it never stops training. Ctrl-C stops serving.")
        return lines


def plan_for(host: str, port: int, force_token: bool = False, *, max_viewers: int, quiet_timeout: float) -> Plan:
    if not 0 <= port <= 65535:
        raise WorkbenchError(f"--port must be 0-65535, got {port} (0: any free port)")
    if max_viewers < 1:
        raise WorkbenchError(f"--max-viewers must be at least 1, got {max_viewers} (each browser tab is one viewer)")
    if not quiet_timeout > 0:
        raise WorkbenchError(f"--quiet-timeout must be more than 0 seconds, got {quiet_timeout}")
    address = address_of(host)
    # The plain spelling, which the resolver takes (it refuses `[::]`) and which we print.
    host = str(address) if address is not None else host.strip()
    needs_token = force_token or not is_loopback(host)
    return Plan(host=host, port=port, token=secrets.token_urlsafe(24) if needs_token else None,
                max_viewers=max_viewers, quiet_timeout=quiet_timeout)


def require_textual_serve() -> None:
    try:
        importlib.import_module("textual_serve")
    except ImportError:
        raise WorkbenchError(f"`workbench serve` needs textual-serve, which is not installed; install it with: "
                             f"{sys.executable} -m pip install 'textual-serve>=1.1' (workbench's [web] extra)") from None


def app_command(folder: Path) -> str:
    """The shell command textual-serve runs for each browser tab."""
    return "exec " + shlex.join(python_command(APP_ENTRY, [str(folder)]))


def cmd_serve(args: argparse.Namespace) -> int:
    folder = sessions_dir(args).resolve()
    plan = plan_for(args.host, args.port, force_token=args.token, max_viewers=args.max_viewers,
                    quiet_timeout=args.quiet_timeout)
    require_textual_serve()
    from workbench.cli.web_server import WebServer

    # The tabs' apps get this process's environment (textual-serve copies it): without the
    # empty or relative PYTHONPATH entries that would make them import from this folder.
    pythonpath = child_environment().get("PYTHONPATH")
    if pythonpath:
        os.environ["PYTHONPATH"] = pythonpath
    else:
        os.environ.pop("PYTHONPATH", None)

    def announce(port: int) -> None:
        print("\n".join(plan.lines(port, folder)), flush=True)

    server = WebServer(app_command(folder), host=plan.host, port=plan.port, token=plan.token,
                       max_viewers=plan.max_viewers, quiet_timeout=plan.quiet_timeout, announce=announce)
    return server.run()


def app_main(argv: Sequence[str]) -> int:
    """One browser tab's app (textual-serve's web driver talks to it over stdin and stdout)."""
    return reporting_errors(lambda: open_app(checked_sessions_dir(Path(argv[0]))))
