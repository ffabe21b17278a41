"""Who may talk to `workbench serve`: the rules, in plain Python (web_server.py applies them to
every request before textual-serve sees it; serve.py decides when a token is needed).

textual-serve has no authentication, and whoever reaches its websocket drives an app with
your rights (it can start, stop and delete training). So:

* With a token (always on an address other than loopback, or with --token): a request for
  anything (the page, its websocket, its scripts, downloads) must carry the token, as
  `?token=` or as the cookie an authorised page load sets (the page's script opens the
  websocket without the query string); otherwise 401.
* Without one (loopback only): the Host must be a loopback name, so a site elsewhere cannot
  point its own DNS name at 127.0.0.1 and reach us through your browser (DNS rebinding): 403.
* Always: a request that names an Origin (a browser always does for a websocket) must come
  from the page's own origin: browsers let any page open a websocket to any address, and this
  keeps a site in another tab from driving a workbench open on localhost: 403.

What none of this does: encrypt (there is no TLS; the token and everything on screen cross the
network in clear unless you use an SSH tunnel or a TLS proxy), or tell users apart (anyone
with the URL has the app, with your rights). On loopback without --token, every user of this
machine can connect.
"""
from __future__ import annotations

import hmac
import ipaddress
import re
import socket
from urllib.parse import urlsplit

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
_SHORT_IPV4 = re.compile(r"^(?:0[xX][0-9A-Fa-f]+|[0-9]+)(?:\.(?:0[xX][0-9A-Fa-f]+|[0-9]+)){0,3}$")


def address_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `host` spells (None for a name), in any spelling the system's resolver
    takes as one: `::`, `[::]`, `0:0:0:0:0:0:0:0`, and the C library's short IPv4 forms
    (`0` and `0.0` are 0.0.0.0, `127.1` is 127.0.0.1), which ipaddress alone refuses."""
    bare = host.strip().removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    # inet_aton also takes anything after a space ("0 junk"): only digits, dots and hex get here.
    if not _SHORT_IPV4.match(bare):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, no port) is this machine's loopback."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = address_of(host)
    return address is not None and address.is_loopback


def is_wildcard(host: str) -> bool:
    """Whether listening on `host` listens on every address of the machine: of one family for an
    unspecified address however it is spelt (0.0.0.0, `::`), of both for an empty one."""
    if not host.strip():
        return True
    address = address_of(host)
    return address is not None and address.is_unspecified


def cookie_name(port: int) -> str:
    """Cookies are per host, not per port: two servers on one machine keep theirs apart."""
    return f"workbench_token_{port}"


def _hostname(host_header: str) -> str:
    return urlsplit("//" + host_header).hostname or ""


def same_origin(origin: str, host_header: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


def refusal(token: str | None, host_header: str, origin: str | None,
            given: tuple[str | None, ...]) -> tuple[int, str] | None:
    """None when the request may go on; else its HTTP status and a one-line reason.
    `given`: the tokens the request carries (query, cookie), None where absent."""
    if not _HOST.match(host_header or ""):
        return 400, "refused: a malformed Host header"
    if origin is not None and not same_origin(origin, host_header):
        return 403, f"refused: a request from another site ({origin}) to this workbench"
    if token is None:
        if not is_loopback(_hostname(host_header)):
            return 403, ("refused: without a token this workbench answers only to a loopback name such as "
                         "localhost (start it with --token to reach it by another name)")
        return None
    expected = token.encode()
    if not any(value and hmac.compare_digest(value.encode("utf-8", "replace"), expected) for value in given):
        return 401, ("this workbench needs its token: open the URL that `workbench serve` printed "
                     "(it ends with ?token=...)")
    return None
