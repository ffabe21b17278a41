"""`workbench serve`: the terminal UI in a web browser, served by textual-serve.

Each browser tab runs the same app as a terminal would, in a process of its own (`app_main`),
started by an interpreter that imports nothing from the folder `serve` was started in
(engine/launcher.py's python_command). Trainers are processes of their own already, so a tab
is a viewer like any terminal: closing it detaches, and several tabs can watch one run.

Who may connect (web_access.py's rules): on a loopback address, this machine's users unless
--token; on any other address a random token made at each start is required, carried by the
URL printed here. textual-serve is an optional extra, imported
only once `serve` runs.
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
from workbench.cli.web_access import is_loopback
from workbench.engine.errors import WorkbenchError, reporting_errors
from workbench.engine.launcher import child_environment, python_command

APP_ENTRY = "workbench.cli.serve:app_main"
WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Plan:
    """Where `serve` listens and who may connect."""

    host: str
    port: int
    token: str | None
    """Required by every request when set (made fresh at each start)."""

    def url(self, port: int, host: str | None = None) -> str:
        host = host or (socket.gethostname() if self.host in WILDCARDS else self.host)
        if ":" in host:
            host = f"[{host}]"  # an IPv6 address
        return f"http://{host}:{port}/" + (f"?token={self.token}" if self.token else "")

    def lines(self, port: int, folder: Path) -> list[str]:
        """What `serve` prints once it listens on `port` (0 asks the system for a free one)."""
        # What the tunnel asks this machine's sshd to connect to: where we listen (an address
        # such as ::1 must be given as itself: "localhost" may resolve to 127.0.0.1 only).
        remote = "localhost" if self.host in (*WILDCARDS, "127.0.0.1", "localhost") else self.host
        remote = f"[{remote}]" if ":" in remote else remote
        lines = [f"workbench serve: open {self.url(port)} (sessions in {folder})"]
        if self.host in WILDCARDS:
            lines.append(f"  listening on every address of this machine ({self.host or '0.0.0.0'}), port {port}")
        lines.append(f"  from your laptop: ssh -L {port}:{remote}:{port} {socket.gethostname()}   then open "
                     f"{self.url(port, 'localhost')}")
        if self.token:
            lines.append("  the token in the URL is required by every request (made at each start); the traffic "
                         "is not encrypted: use the tunnel, or a TLS proxy")
        else:
            lines.append("  no token: any user of this machine can connect; --token requires one")
        lines.append("  each browser tab is an app of its own: closing it never stops training. Ctrl-C stops serving.")
        return lines


def plan_for(host: str, port: int, force_token: bool = False) -> Plan:
    if not 0 <= port <= 65535:
        raise WorkbenchError(f"--port must be 0-65535, got {port} (0: any free port)")
    needs_token = force_token or not is_loopback(host)
    return Plan(host=host, port=port, token=secrets.token_urlsafe(24) if needs_token else None)


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
    plan = plan_for(args.host, args.port, force_token=args.token)
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

    server = WebServer(app_command(folder), host=plan.host, port=plan.port, token=plan.token, announce=announce)
    return server.run()


def app_main(argv: Sequence[str]) -> int:
    """One browser tab's app (textual-serve's web driver talks to it over stdin and stdout)."""
    return reporting_errors(lambda: open_app(checked_sessions_dir(Path(argv[0]))))
