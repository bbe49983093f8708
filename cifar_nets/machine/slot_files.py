"""A device slot's lock file: :func:`try_claim` opens, checks and locks it (cifar_nets.machine.slots
decides which slot a job tries); :func:`open_folder`, :func:`lock_name`, :func:`safe_component`
name and open the folder and file; :class:`SlotError` is the one-line error.

Slot files cannot be turned against the user: a lock file is opened without following a symlink
and without truncating, and is written only once it is locked and known to be a plain file that
is empty or one of this project's lock files; anything else in its place (a symlink, a folder,
another user's file, a hard link, a foreign file) is skipped with a log line, and a clear error
names the folder when no slot can be used. Every component of a lock path (host name, scheduler
job id, GPU id) is reduced to [A-Za-z0-9._-] by :func:`safe_component`.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import stat
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; slots are then not enforced (see slots.claim_slot)
    fcntl = None

HAVE_FLOCK = fcntl is not None
# First line of every lock file this project writes; a file that is neither empty, nor starts with
# it, nor is in the one-line format written before it (LEGACY_LOCK) is never written to.
LOCK_MARKER = "cifar-ablation device slot lock\n"
LEGACY_LOCK = re.compile(r"pid \d+ on [^\n]* since \d\d:\d\d:\d\d\n?")
MAX_LOCK_BYTES = 4096
COMPONENT_LIMIT = 64


class SlotError(RuntimeError):
    """A device slot cannot be had: the slot folder or every lock file in it is unusable, or
    `engine.gpus` names a GPU the host does not have. The message is one line."""


class _Unusable(Exception):
    """This slot's lock file cannot be used (the message says why); try the next slot."""


def safe_component(text, limit: int = COMPONENT_LIMIT) -> str:
    """`text` as one safe path component: only [A-Za-z0-9._-], no '..', not starting with '.' or
    '-', at most `limit` characters. A name that had to change gets a short hash of the original,
    so two different names never share a component."""
    text = str(text)
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    clean = re.sub(r"\.{2,}", lambda m: "_" * len(m.group()), clean)
    clean = re.sub(r"^[.-]", "_", clean)
    if clean == text and 0 < len(clean) <= limit:
        return clean
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean[:limit - 9].rstrip('.')}-{digest}" if clean else f"_{digest}"


def lock_name(gpu, index: int) -> str:
    return f"gpu{safe_component(gpu)}.{int(index)}.lock"


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)   # a FIFO in a slot's place must not block open()


def open_folder(folder: Path) -> int:
    """The slot folder, created if missing, opened as a directory (not through a symlink)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as exc:
        what = ("is a symlink or not a folder" if exc.errno in (errno.ELOOP, errno.ENOTDIR,
                                                                errno.EEXIST)
                else exc.strerror or str(exc))
        raise SlotError(f"device slot folder {folder} cannot be used ({what}): remove or fix "
                        "it, it holds only this workflow's lock files") from None


def _lock_text() -> bytes:
    return (f"{LOCK_MARKER}pid {os.getpid()} on {socket.gethostname()} "
            f"since {time.strftime('%H:%M:%S')}\n").encode("utf-8", "replace")


def try_claim(folder: Path, gpu: str, index: int, folder_fd: int | None = None):
    """The open, locked file of slot (gpu, index), or None when another process holds it.

    Raises _Unusable (with the reason) when the slot's file cannot be used: it is a symlink, not
    a plain file, has other hard links, cannot be opened or locked, or holds something other than
    an empty file or this project's lock. Such a file is never truncated or written.
    """
    own_fd = folder_fd is None
    dfd = open_folder(folder) if own_fd else folder_fd
    name = lock_name(gpu, index)
    try:
        flags = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK
        try:
            if os.open in os.supports_dir_fd:
                fd = os.open(name, flags, 0o666, dir_fd=dfd)
            else:  # pragma: no cover - every POSIX system CPython supports has dir_fd
                fd = os.open(folder / name, flags, 0o666)
        except OSError as exc:
            if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and _O_NOFOLLOW):
                raise _Unusable("it is a symlink") from None
            if exc.errno == errno.EISDIR:
                raise _Unusable("it is a folder") from None
            raise _Unusable(f"cannot open it: {exc.strerror or exc}") from None
    finally:
        if own_fd:
            os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Unusable("it is not a plain file")
        if st.st_nlink > 1:
            raise _Unusable("it has other hard links")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                return None
            raise _Unusable(f"cannot lock it: {exc.strerror or exc}") from None
        head = os.pread(fd, MAX_LOCK_BYTES + 1, 0)
        if head and not (head.startswith(LOCK_MARKER.encode())
                         or LEGACY_LOCK.fullmatch(head.decode("utf-8", "replace"))):
            raise _Unusable("it holds something other than a lock file of this workflow")
        if len(head) > MAX_LOCK_BYTES:
            raise _Unusable("it is larger than a lock file of this workflow")
        text = _lock_text()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)
    except _Unusable:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        raise _Unusable(f"cannot use it: {exc.strerror or exc}") from None
    return os.fdopen(fd, "rb+", buffering=0)
