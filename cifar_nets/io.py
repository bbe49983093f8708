"""Small file-system helpers shared by the library: atomic writes, and a full disk in one line.

Every write goes to a temporary file beside its destination and is renamed over it only when
complete (:func:`atomic_path`), so a file that exists is whole and a failed write leaves the
previous file as it was. A write that fails because the disk is full or the quota is used up
(ENOSPC, EDQUOT) raises :class:`DiskFullError`: one line naming the file and the space it needed.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFullError(OSError):
    """No space left (or the quota used up) while writing a file: one line naming the file, the
    space its content needed and the space left. The file there before, if any, is unchanged."""

    def __str__(self) -> str:
        return str(self.args[1]) if len(self.args) > 1 else super().__str__()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def disk_full_error(dest, exc: OSError, needed: int | None, written: int) -> DiskFullError:
    """The DiskFullError for a write of `dest` that failed with `exc` (ENOSPC or EDQUOT):
    `needed` is the size of the content (None: unknown, `written` bytes got out before)."""
    try:
        free = _mb(shutil.disk_usage(Path(dest).parent).free) + " free there"
    except OSError:
        free = "free space unknown"
    what = (f"needing {_mb(needed)}" if needed is not None
            else f"{_mb(written)} written before it failed, more needed")
    reason = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
    return DiskFullError(exc.errno, f"{dest}: {reason} writing it ({what}; {free}); free some "
                                    f"space and run again (the file there before, if any, is "
                                    f"unchanged)")


@contextmanager
def atomic_path(dest: str | os.PathLike, size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success move it onto `dest` atomically.

    The caller writes the temporary path (it does not exist yet, so files get the usual umask
    permissions). When the block ends normally the file is moved over `dest` with `os.replace`,
    so readers see either the old file or the complete new one, never a partial one. When the
    block raises (or the move fails) the temporary file is removed and the exception propagates;
    a full disk or quota (ENOSPC, EDQUOT) becomes a one-line :class:`DiskFullError` naming `dest`
    and `size`, the size of what was being written (when the caller knows it).
    The parent directory of `dest` is created if missing.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException as exc:
        try:
            written = tmp.stat().st_size
        except OSError:
            written = 0
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, DiskFullError) \
                and exc.errno in DISK_FULL:
            raise disk_full_error(dest, exc, size, written) from exc
        raise


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to the new file `path` and flush it to the operating system."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()


def write_bytes(dest, data: bytes) -> None:
    with atomic_path(dest, size=len(data)) as tmp:
        write_file(tmp, data)


def write_text(dest, text: str) -> None:
    write_bytes(dest, text.encode())


def write_json(dest, obj) -> None:
    write_text(dest, json.dumps(obj, indent=2, default=str) + "\n")


def write_csv(dest, df, **kw) -> None:
    write_text(dest, df.to_csv(index=False, **kw))
