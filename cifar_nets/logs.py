"""Job logs: stderr into the rule's log file, and a timestamped line writer."""
from __future__ import annotations

import sys
import time


def log_to(path):
    """Send stderr (warnings, tracebacks) to `path` and return a `log(msg)` function for it."""
    stream = open(path, "a", buffering=1)
    sys.stderr = stream

    def log(msg: str) -> None:
        now = time.time()
        stamp = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))
        stream.write(f"[{stamp}.{int(now % 1 * 1000):03d}] {msg}\n")
        stream.flush()

    return log
