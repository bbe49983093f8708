"""Fetch a file (the CIFAR-10 archive) over https://, http://, file:// or from a path, checked
against its md5: the bytes reach their destination only once the checksum matches, and a failed
fetch leaves no file there. Every failure is one line (`cifar_nets.data.arrays.DataError`) naming the
source. Reading what was fetched is `cifar_nets.data.archive`.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from cifar_nets.data.arrays import DataError
from cifar_nets.io import atomic_path

CHUNK = 1 << 20

def md5sum(path: str | os.PathLike) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_md5(md5: str) -> str:
    """`md5` as 32 lower-case hex digits; a ValueError if it is not one."""
    if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    return md5.lower()


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def source_problem(source: str) -> str | None:
    """Why `source` is no form the fetcher reads (checked with the config, before any job), or
    None: a URL scheme other than https, http and file, or a file:// URL naming another host."""
    m = _SCHEME.match(source)
    if m is None or m.group(1).lower() in ("http", "https"):
        return None
    host = urllib.parse.urlparse(source).netloc
    if m.group(1).lower() == "file" and host in ("", "localhost"):
        return None
    why = f"file:// URL on the host {host!r}" if m.group(1).lower() == "file" else \
        f"unsupported URL scheme {m.group(1)!r}"
    return f"{why} (allowed: https://, http://, file:// (this host) or a plain path)"


def _local_source(source: str) -> Path | None:
    """The local path a source names (plain path or file:// URL), or None for http(s)."""
    m = _SCHEME.match(source)
    if m is None:
        return Path(source)
    scheme = m.group(1).lower()
    if scheme in ("http", "https"):
        return None
    if scheme == "file":
        parsed = urllib.parse.urlparse(source)
        if parsed.netloc not in ("", "localhost"):
            raise DataError(f"{source}: file:// URL with a remote host is not supported")
        return Path(urllib.request.url2pathname(parsed.path))
    raise DataError(f"{source}: unsupported URL scheme {scheme!r} (expected https://, http://, file:// or a path)")


def fetch_archive(source: str, dest: str | os.PathLike, md5: str, timeout: float = 60) -> None:
    """Copy or download `source` to `dest`, verifying its md5.

    `source` is an http(s):// URL (streamed with urllib, `timeout` seconds per socket operation),
    a file:// URL or a plain path. The bytes go to a temporary file beside `dest`, which is moved
    onto `dest` only once the md5 matches. On any failure the temporary file is removed and no
    file is left at `dest` (a `dest` from an earlier run is removed too, so a failed fetch never
    leaves a stale archive looking like a fresh one) -- except when `source` *is* `dest`, which is
    only checked and never deleted.
    """
    source = os.fspath(source)
    dest = Path(dest)
    want = check_md5(md5)
    local = _local_source(source)
    if local is not None:
        if not local.is_file():
            raise DataError(f"{local}: no such file (source for {dest})")
        if dest.exists() and os.path.samefile(local, dest):
            got = md5sum(dest)
            if got != want:
                raise DataError(f"{source}: md5 is {got}, expected {want}")
            return
    try:
        with atomic_path(dest) as tmp:
            h = hashlib.md5(usedforsecurity=False)
            with open(tmp, "wb") as out:
                if local is not None:
                    try:
                        src = open(local, "rb")
                    except OSError as e:
                        raise DataError(f"{local}: cannot read ({e.strerror or e})") from e
                    with src:
                        _copy_hashing(src, out, h)
                else:
                    try:
                        with urllib.request.urlopen(source, timeout=timeout) as resp:
                            _copy_hashing(resp, out, h)
                    except urllib.error.HTTPError as e:
                        e.close()  # it holds the connection open
                        raise DataError(f"{source}: download failed (HTTP {e.code} {e.reason})") from e
                    except urllib.error.URLError as e:
                        raise DataError(f"{source}: download failed ({e.reason})") from e
                    except (OSError, http.client.HTTPException) as e:
                        raise DataError(f"{source}: download failed ({type(e).__name__}: {e})") from e
            got = h.hexdigest()
            if got != want:
                raise DataError(f"{source}: md5 is {got}, expected {want}")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _copy_hashing(src, out, h) -> None:
    while chunk := src.read(CHUNK):
        h.update(chunk)
        out.write(chunk)
