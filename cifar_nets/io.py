"""Small file-system helpers shared by the library: atomic writes."""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success move it onto `dest` atomically.

    The caller writes the temporary path (it does not exist yet, so files get the usual umask
    permissions). When the block ends normally the file is moved over `dest` with `os.replace`,
    so readers see either the old file or the complete new one, never a partial one. When the
    block raises (or the move fails) the temporary file is removed and the exception propagates.
    The parent directory of `dest` is created if missing.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(dest, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text)


def write_json(dest, obj) -> None:
    write_text(dest, json.dumps(obj, indent=2, default=str) + "\n")


def write_csv(dest, df, **kw) -> None:
    with atomic_path(dest) as tmp:
        df.to_csv(tmp, index=False, **kw)
