"""Seeds until the answer is clear: a precision target per (recipe, n_blocks) group.

When ``study.seeds`` is ``{min, max, step, target_halfwidth}`` every group starts with seeds
0..min-1 (the first stage). From the sd of each paired difference between block types over those
first seeds, Stein's two-stage rule (Stein 1945) gives the seeds the group needs,
``n = (t(min-1) x sd_first / target)^2`` for the widest pair, rounded up to ``min + k x step``
and capped at ``max``; the second stage trains the rest. The verdicts then use Stein's test (the
first-stage sd, ``min - 1`` degrees of freedom; cifar_nets.study.stats.paired_test ``first_stage``),
whose interval has half-width at most the target when the cap is not hit and which keeps its
level exactly: the number of seeds depends only on the first-stage sd, which is independent of
the difference's mean. The earlier rule (look again after every step until the interval is narrow
enough) made false positives 7.8 to 8% at a nominal 5% (cifar_nets.study.stopping_sim, the table in
docs/statistics.md). The rule looks at spread only, never at a difference's sign or p-value.

The workflow runs one Snakemake checkpoint per round (rules/seeds.smk): round 0 decides every
group, round 1 finds the second stage done. This module owns the round files it writes
(results/seeds/round<N>.json): :func:`write_round`, :func:`read_round` (checked: a bad file is one
:class:`RoundFileError` line naming it), and what the rounds mean for the groups of the study as
configured now (:func:`seeds_after`, :func:`round_is_final`): a group a round did not decide (a
depth or recipe added since) starts at ``min`` seeds, a group no longer in the study is ignored.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cifar_nets.io import write_json
from cifar_nets.study.verdicts import StatsSettings, paired_comparisons

TARGET_MET = "target met"
STOPPED_AT_MAX = "stopped at max"
MORE = "more seeds"


@dataclass(frozen=True)
class SeedTarget:
    min: int
    max: int
    step: int
    target_halfwidth: float
    confidence: float = 0.95

    @classmethod
    def from_config(cls, spec: dict) -> "SeedTarget":
        return cls(**spec)


def is_target(seeds) -> bool:
    """Whether `study.seeds` is a precision target (a mapping) rather than a list."""
    return isinstance(seeds, dict)


def widest_halfwidths(runs: pd.DataFrame, confidence: float = 0.95,
                      first: int | None = None) -> pd.DataFrame:
    """Per (recipe, n_blocks): seeds used, and the widest half-width of the paired-difference
    intervals between block types (inf while a group has fewer than two paired seeds); with
    ``first``, Stein's half-width (first-stage sd) of a precision-targeted group."""
    rows = []
    for (recipe, n_blocks), sub in runs.groupby(["recipe", "n_blocks"], sort=False):
        paired = paired_comparisons(sub, by=(), settings=StatsSettings(confidence=confidence),
                                    first_stage=first)
        half = (paired.ci_high - paired.mean_diff).to_numpy(dtype=float)
        widest = float(np.max(half)) if len(half) and np.isfinite(half).all() else math.inf
        rows.append({"recipe": recipe, "n_blocks": int(n_blocks),
                     "seeds": sorted(int(s) for s in sub.seed.unique()),
                     "widest_halfwidth": widest})
    return pd.DataFrame(rows, columns=["recipe", "n_blocks", "seeds", "widest_halfwidth"])


def rule_decision(seeds: list, widest_halfwidth: float, target: SeedTarget) -> tuple[str, list]:
    """Stein's rule for one group: its status and next round's seeds, from its seeds so far and
    the widest Stein half-width of its paired differences, t(min-1) x sd_first / sqrt(n), which
    gives the size n x (half-width / target)^2 = (t(min-1) x sd_first / target)^2, rounded up to
    the step grid (min, min + step, ...) and capped at max (decide; cifar_nets/study/rounds.py
    checks round files with it)."""
    n = len(seeds)
    need = math.inf
    if math.isfinite(widest_halfwidth):
        need = max(target.min, math.ceil(n * (widest_halfwidth / target.target_halfwidth) ** 2 - 1e-9))
        need = target.min + math.ceil((need - target.min) / target.step) * target.step
    n_next = int(min(target.max, need))
    if n < n_next:
        return MORE, list(range(n_next))
    return (TARGET_MET if need <= target.max else STOPPED_AT_MAX), list(seeds)


def decide(runs: pd.DataFrame, target: SeedTarget) -> list[dict]:
    """One round's decision per group: its status and the seeds of the next round (Stein's
    two-stage size from the first ``min`` seeds; the same answer in every round).

    `runs` holds test_acc per (recipe, n_blocks, block_type, seed) of every finished run so far.
    """
    out = []
    for row in widest_halfwidths(runs, target.confidence, first=target.min).itertuples(index=False):
        status, nxt = rule_decision(row.seeds, row.widest_halfwidth, target)
        out.append({"recipe": row.recipe, "n_blocks": row.n_blocks, "seeds": row.seeds,
                    "widest_halfwidth": row.widest_halfwidth, "status": status,
                    "next_seeds": nxt})
    return out


# --------------------------------------------------------------------------- round files

STATUSES = (MORE, TARGET_MET, STOPPED_AT_MAX)
MAX_SEEDS = 1000                 # the schema's bound on study.seeds (a list, or max)
MAX_SEED = 2 ** 63 - 1
ROUND_FILE = re.compile(r"round(\d+)\.json")
_FIX = "delete it and that round is decided again"


class RoundFileError(ValueError):
    """A round file that cannot be used: one line naming the file, what is wrong and what to do."""


def round_decision(round_no: int, target: dict, groups: list[dict]) -> dict:
    """The content of a round file: the round, the target, every group's decision (decide()),
    and `done`: whether every group it decided has stopped."""
    return {"round": int(round_no), "target": dict(target),
            "done": all(g["status"] != MORE for g in groups), "groups": list(groups)}


def write_round(path, round_no: int, target: dict, groups: list[dict]) -> dict:
    """Write one round's file atomically (checked first, so the reader never refuses it)."""
    decision = round_decision(round_no, target, groups)
    validate_round(json.loads(json.dumps(decision, default=str)), path, round_no)
    write_json(path, decision)
    return decision


def round_number(path) -> int | None:
    m = ROUND_FILE.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def read_round(path) -> dict:
    """A round file, checked: JSON, its keys, their types, seeds non-negative integers. Raises
    RoundFileError naming the file and what to do."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RoundFileError(f"{path}: not valid JSON (not UTF-8 text) - {_FIX}") from None
    except OSError as exc:
        raise RoundFileError(f"{path}: cannot be read ({exc.strerror or exc}) - check its "
                             f"permissions, or {_FIX}") from None

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is not None:
            raise ValueError(f"key {dup!r} twice")
        return dict(pairs)

    try:
        decision = json.loads(text, object_pairs_hook=no_duplicates)
    except RecursionError:
        raise RoundFileError(f"{path}: not valid JSON (nested too deeply) - {_FIX}") from None
    except json.JSONDecodeError as exc:
        at_end = exc.pos >= len(text.rstrip())
        why = "truncated?" if at_end else f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise RoundFileError(f"{path}: not valid JSON ({why}) - {_FIX}") from None
    except ValueError as exc:     # a key twice
        raise RoundFileError(f"{path}: not valid JSON ({exc}) - {_FIX}") from None
    return validate_round(decision, path, round_number(path))


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_round(decision, path, round_no: int | None = None) -> dict:
    """`decision` (parsed JSON) if it has the structure write_round writes, else RoundFileError."""
    def bad(where, what):
        raise RoundFileError(f"{path}: {where}{what} - {_FIX}")

    def need(obj, where, keys):
        if not isinstance(obj, dict):
            bad(where.rstrip(": ") + ": " if where else "", f"{_short(obj)} is not a JSON object")
        for k in keys:
            if k not in obj:
                bad(where, f"missing key {k!r}")

    def integer(value, where):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
            bad("", f"{where}: {_short(value)} is not a non-negative integer")

    def number(value, where, what="a non-negative number"):
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value)
                or value < 0):
            bad("", f"{where}: {_short(value)} is not {what}")

    def seed_list(value, where):
        if not isinstance(value, list):
            bad("", f"{where}: {_short(value)} is not a list")
        if len(value) > MAX_SEEDS:
            bad("", f"{where}: {len(value)} seeds, more than {MAX_SEEDS}")
        for i, s in enumerate(value):
            integer(s, f"{where}[{i}]")
        dup = next((s for i, s in enumerate(value) if s in value[:i]), None)
        if dup is not None:
            bad("", f"{where}: seed {dup} twice")

    need(decision, "", ("round", "target", "done", "groups"))
    integer(decision["round"], "round")
    if round_no is not None and decision["round"] != round_no:
        bad("", f"round: {decision['round']}, but the file is round {round_no}")
    need(decision["target"], "target: ", ("target_halfwidth",))
    number(decision["target"]["target_halfwidth"], "target.target_halfwidth", "a positive number")
    if not isinstance(decision["done"], bool):
        bad("", f"done: {_short(decision['done'])} is not true or false")
    groups = decision["groups"]
    if not isinstance(groups, list):
        bad("", f"groups: {_short(groups)} is not a list")
    seen = set()
    for i, g in enumerate(groups):
        at = f"groups[{i}]"
        need(g, f"{at}: ", ("recipe", "n_blocks", "seeds", "widest_halfwidth", "status", "next_seeds"))
        if not isinstance(g["recipe"], str):
            bad("", f"{at}.recipe: {_short(g['recipe'])} is not a string")
        integer(g["n_blocks"], f"{at}.n_blocks")
        seed_list(g["seeds"], f"{at}.seeds")
        seed_list(g["next_seeds"], f"{at}.next_seeds")
        number(g["widest_halfwidth"], f"{at}.widest_halfwidth")
        if g["status"] not in STATUSES:
            bad("", f"{at}.status: {_short(g['status'])} is not one of "
                    + ", ".join(repr(s) for s in STATUSES))
        key = (g["recipe"], g["n_blocks"])
        if key in seen:
            bad("", f"{at}: group {g['recipe']} n_blocks {g['n_blocks']} twice")
        seen.add(key)
    return decision


def check_round_files(folder) -> None:
    """Read every round file in `folder` (results/seeds): RoundFileError for the first bad one."""
    if not os.path.isdir(folder):
        return
    for name in sorted(os.listdir(folder)):
        if round_number(name) is not None:
            read_round(os.path.join(folder, name))


def by_group(decision: dict) -> dict:
    """{(recipe, n_blocks): group decision} of a round."""
    return {(g["recipe"], g["n_blocks"]): g for g in decision["groups"]}


def seeds_after(decision: dict, groups, target: SeedTarget) -> dict:
    """Seeds per group of the study for the round after `decision`: what the round decided, or
    the first `min` seeds for a group it did not decide (added to the study since)."""
    decided = by_group(decision)
    return {g: list(decided[g]["next_seeds"]) if g in decided else list(range(target.min))
            for g in groups}


def round_is_final(decision: dict, groups) -> bool:
    """Whether the study's groups stop at this round: it decided every one of them and none wants
    more seeds (groups no longer in the study do not count)."""
    decided = by_group(decision)
    return all(g in decided and decided[g]["status"] != MORE for g in groups)


def final_group_seeds(decision: dict, groups) -> dict:
    """Seeds per group of the study at its last round (round_is_final must hold)."""
    decided = by_group(decision)
    return {g: list(decided[g]["seeds"]) for g in groups}


FIXED = "fixed list of seeds"


def stopping_table(runs: pd.DataFrame, decision: dict | None = None) -> pd.DataFrame:
    """Why each (recipe, n_blocks) group has the seeds it has: seeds used, the widest 95%
    half-width of its paired differences, the target and "target met" / "stopped at max"
    (from the last round's `decision`), or "fixed list of seeds" for a list in the config."""
    cols = ["recipe", "n_blocks", "seeds_used", "widest_halfwidth", "target_halfwidth",
            "status", "rounds"]
    if decision is None:
        rows = [{"recipe": r.recipe, "n_blocks": r.n_blocks, "seeds_used": len(r.seeds),
                 "widest_halfwidth": r.widest_halfwidth, "target_halfwidth": math.nan,
                 "status": FIXED, "rounds": 1}
                for r in widest_halfwidths(runs).itertuples(index=False)]
    else:   # a group the last round decided but no longer in the study has no runs: left out
        studied = set(zip(runs.recipe, runs.n_blocks.astype(int))) if len(runs) else set()
        rows = [{"recipe": g["recipe"], "n_blocks": g["n_blocks"], "seeds_used": len(g["seeds"]),
                 "widest_halfwidth": g["widest_halfwidth"],
                 "target_halfwidth": decision["target"]["target_halfwidth"],
                 "status": g["status"], "rounds": decision["round"] + 1}
                for g in decision["groups"] if (g["recipe"], g["n_blocks"]) in studied]
    return pd.DataFrame(rows, columns=cols)


def stopping_sentences(table: pd.DataFrame) -> list[str]:
    out = []
    for r in table.itertuples(index=False):
        width = ("not computable (fewer than 2 paired seeds)" if not math.isfinite(r.widest_halfwidth)
                 else f"±{r.widest_halfwidth:.2f} points")
        why = (f"{r.status} (target ±{r.target_halfwidth:g} points, {r.rounds} round(s))"
               if r.status != FIXED else r.status)
        out.append(f"{r.recipe} recipe, {r.n_blocks} blocks: {r.seeds_used} seeds per block type; "
                   f"widest 95% interval of a paired difference {width}: {why}.")
    return out
