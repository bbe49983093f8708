"""What the package's command lines share: argparse errors in one line, bounded integer flags."""
from __future__ import annotations

import argparse
from typing import Callable


class OneLineParser(argparse.ArgumentParser):
    """argparse, but every error is one line (no usage block) and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def int_in(low: int, high: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse `type`: a whole number from `low` to `high` (no upper bound when None)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is not {what or bound}")
        return value
    return parse
