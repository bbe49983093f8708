"""Round files checked against the seed rule that made them (cifar_nets/study/seeds.py).

`read_round` checks a round file's structure; a file edited by hand can keep that structure and
still say what the rule never says (`next_seeds` of 12 seeds under `max: 3`), and the workflow
would train those runs. Before the DAG is built, every round file on disk is checked here against
`rule_decision` under the target it records (the rule that made it), and against the round
before it: one RoundFileError line naming the file, what disagrees and what to do. A file whose
target is not the config's `study.seeds` is not refused: Snakemake redoes its decision, as the
target is the seed_round rule's params (tests/test_seeds.py: a changed target).
"""
from __future__ import annotations

import os

from cifar_nets.study.seeds import (_FIX, MAX_SEEDS, MORE, RoundFileError, SeedTarget, _short, read_round, round_number,
                    rule_decision)

TARGET_KEYS = ("min", "max", "step", "target_halfwidth")


def check_round_rule(decision: dict, path, seeds_before: dict | None = None) -> None:
    """RoundFileError unless every decision of a (structurally valid) round file is what the
    rule gives under the target the file records: that target is a whole one (min <= max, step);
    each group's seeds are 0..n-1 with min <= n <= max and, given `seeds_before` ({(recipe,
    n_blocks): seeds}), the seeds the round before gave it (`min` seeds for a group it did not
    decide); its status and next_seeds are `rule_decision`'s; `done` says whether every group
    stopped."""
    def bad(what):
        raise RoundFileError(f"{path}: {what}, which the seed rule does not give - {_FIX}")

    target = decision["target"]
    if (sorted(target) != sorted(TARGET_KEYS) or any(
            isinstance(target[k], bool) or not isinstance(target[k], int)
            or not 1 <= target[k] <= MAX_SEEDS for k in ("min", "max", "step"))
            or target["min"] > target["max"]):
        bad(f"target {_short(target)} (expected integers min <= max and step, and target_halfwidth)")
    rule = SeedTarget.from_config(target)
    for i, g in enumerate(decision["groups"]):
        at, seeds, n = f"groups[{i}]", g["seeds"], len(g["seeds"])
        if seeds != list(range(n)) or not rule.min <= n <= rule.max:
            bad(f"{at}.seeds: {_short(seeds)} (expected 0..n-1 with {rule.min} <= n <= {rule.max})")
        if seeds_before is not None:
            before = seeds_before.get((g["recipe"], g["n_blocks"]), list(range(rule.min)))
            if seeds != before:
                bad(f"{at}.seeds: {_short(seeds)}, but the round before gave {_short(before)}")
        status, nxt = rule_decision(seeds, g["widest_halfwidth"], rule)
        if g["status"] != status:
            bad(f"{at}.status: {g['status']!r} for {n} seeds and half-width "
                f"{g['widest_halfwidth']:g} (target {rule.target_halfwidth:g}, max {rule.max})")
        if g["next_seeds"] != nxt:
            bad(f"{at}.next_seeds: {_short(g['next_seeds'])} (the rule gives {_short(nxt)})")
    if decision["done"] != all(g["status"] != MORE for g in decision["groups"]):
        bad(f"done: {str(decision['done']).lower()} for these statuses")


def check_round_decisions(folder) -> None:
    """Read every round file in `folder` (results/seeds) in round order, each checked (read_round)
    and its decisions checked against its rule (check_round_rule) and, under the same target,
    the round before it: RoundFileError for the first that disagrees."""
    if not os.path.isdir(folder):
        return
    rounds = sorted((round_number(name), name) for name in os.listdir(folder)
                    if round_number(name) is not None)
    prev = None      # (round, target, next_seeds by group) of the file read last
    for r, name in rounds:
        path = os.path.join(folder, name)
        decision = read_round(path)
        before = None
        if r == 0:
            before = {}
        elif prev and prev[0] == r - 1 and prev[1] == decision["target"]:
            before = prev[2]
        check_round_rule(decision, path, before)
        prev = (r, decision["target"],
                {(g["recipe"], g["n_blocks"]): g["next_seeds"] for g in decision["groups"]})
