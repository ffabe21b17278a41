"""Getting a named corpus onto this machine: downloaded once into the corpora cache, with a text
progress bar, never leaving a half-written file behind.

The bytes go to `.<dest>.<pid>.part` in the destination folder (files.write_atomic) and are
renamed over `dest` only when complete, so an interrupted or failed download leaves the cache
as it was, and two processes fetching the same corpus never write into each other's file.
urllib is imported only when a download starts.
"""
from __future__ import annotations

import hashlib
import socket
import sys
from pathlib import Path
from typing import IO, TextIO

from workbench import __version__
from workbench.corpora import catalog
from workbench.engine.errors import CorpusError
from workbench.engine.files import write_atomic
from workbench.engine.progress_line import ProgressLine

_CHUNK = 64 * 1024


def fetch(entry: catalog.Entry, *, allow_download: bool, progress: TextIO | None) -> tuple[Path, str]:
    """Download a named corpus into the cache; return its path and a note. CorpusError, naming
    where to put the file by hand, when downloads are off or fail."""
    folder = catalog.download_dir()
    dest = (folder or catalog.package_dir()) / f"{entry.name}.txt"
    url = catalog.url_for(entry.name)
    where = ", or ".join([u for u in [url, *entry.alt_urls] if u])
    put = (
        f"put the text of {entry.title} ({where}) at {dest} "
        f"or in a folder listed in {catalog.SEARCH_ENV}"
    )
    if not allow_download:
        raise CorpusError(f"corpus '{entry.name}' is not cached and downloads are off: {put}")
    if folder is None:
        reason = f"no writable folder: {catalog.package_dir()} and {catalog.user_cache_dir()}"
        raise CorpusError(f"corpus '{entry.name}' could not be downloaded ({reason}): {put}")
    if url is None:  # only a catalog mistake gets here
        raise CorpusError(f"corpus '{entry.name}' has no download URL: {put}")
    try:
        n_bytes = download(url, dest, progress=progress)
    except DownloadError as exc:
        raise CorpusError(
            f"corpus '{entry.name}' is not cached and could not be downloaded ({exc.reason}): "
            f"{put}"
        ) from exc
    note = f"downloaded {n_bytes / 1e6:.1f} MB from {url} to {dest}"
    if entry.sha256 and url == entry.url:
        digest = hashlib.sha256(dest.read_bytes()).hexdigest()
        if digest != entry.sha256:
            # Upstream may have re-saved the file; the text is still usable, so warn, not fail.
            note += " (its sha256 differs from the copy workbench knows; upstream may have changed)"
    return dest, note


class DownloadError(Exception):
    """A download failed. `reason` is short and lower-case ("connection refused", "HTTP 404"),
    meant to sit inside a longer one-line message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def download(
    url: str,
    dest: Path,
    *,
    progress: TextIO | None = sys.stderr,
    timeout: float = 30.0,
) -> int:
    """Download `url` to `dest` atomically; return the number of bytes written.

    Progress goes to `progress` (None for silence) as one line redrawn with carriage returns.
    Raises DownloadError on any network, HTTP or file-system failure, after removing the partial
    file.
    """
    import urllib.request  # with ssl: loaded only when a download starts

    dest = Path(dest)
    bar = ProgressLine("downloading", dest.name, progress)
    written = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"workbench/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            total = _content_length(response)

            def write(out: IO[bytes]) -> None:
                nonlocal written
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(written, total)
                if total is not None and written != total:
                    raise DownloadError(f"incomplete download: got {written:,} of {total:,} bytes")
                if written == 0:
                    raise DownloadError("the server sent an empty file")

            # The bytes go to a hidden .part file beside `dest`, renamed over it only when complete.
            write_atomic(dest, write, suffix=".part")
        bar.finish(written, total)
        return written
    except DownloadError:
        bar.abort()
        raise
    except BaseException as exc:  # KeyboardInterrupt too: write_atomic has removed the .part
        bar.abort()
        if isinstance(exc, Exception):
            raise DownloadError(_short_reason(exc)) from exc
        raise


def _content_length(response: object) -> int | None:
    value = getattr(response, "headers", {}).get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _short_reason(exc: BaseException) -> str:
    """Turn urllib's nested exceptions into a few words a user can act on."""
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".strip()
    if isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        if isinstance(inner, BaseException):
            return _short_reason(inner)
        return str(inner)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not resolved; are you offline?"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror.lower()}{where}"
    return str(exc) or type(exc).__name__
