"""What the seed rounds on disk mean for the study as configured now: the workflow's seed state.

`study.seeds` is a list, or a precision target {min, max, step, target_halfwidth}: then seeds
come in rounds, one Snakemake checkpoint per round (rules/seeds.smk), and the seeds of each
(recipe, n_blocks) group are known only once its last round has run. Given the study's axes
(:func:`cifar_nets.study.tune.study_axes`) and a reader of round files, these functions answer
what rules/seeds.smk asks, so that file only turns Snakemake's checkpoints into round files:

- :func:`study_groups`, :func:`seed_target`: the groups and the target (None for a list);
- :func:`first_round_seeds`, :func:`next_round_seeds`: the seeds a round evaluates;
- :func:`final_round`: the first round that stopped every group (asked round by round);
- :func:`study_seeds`: the seeds per group of the whole study, from its last round;
- :func:`seeds_on_disk`: the seeds as far as the round files on disk say (asks no checkpoint);
- :func:`runs_of`: one dict per training run of some seeds per group.

Before any of that, :func:`check_round_decisions` checks every round file on disk against the
rule that made it: `read_round` checks a file's structure, but a file edited by hand can keep
that structure and still say what the rule never says (`next_seeds` of 12 seeds under `max: 3`),
and the workflow would train those runs. Each file is checked against `rule_decision` under the
target it records and against the round before it: one RoundFileError line naming the file, what
disagrees and what to do. A file whose target is not the config's `study.seeds` is not refused:
Snakemake redoes its decision, as the target is the seed_round rule's params (tests/test_seeds.py).

The rule itself (Stein's two-stage size) and the round files' format are cifar_nets.study.seeds.
"""
from __future__ import annotations

import os
from typing import Callable

from cifar_nets.study.seeds import (_FIX, MAX_SEEDS, MORE, RoundFileError, SeedTarget, _short,
                                    final_group_seeds, is_target, read_round, round_is_final,
                                    round_number, rule_decision, seeds_after)

ROUND_FILE = "round{round}.json"     # in the rounds' folder (results/seeds)


def study_groups(study: dict) -> list[tuple[str, int]]:
    """The (recipe, n_blocks) groups of the study, in study order."""
    return [(r, n) for r in study["recipes"] for n in study["n_blocks"]]


def seed_target(study: dict) -> dict | None:
    """`study.seeds` when it is a precision target, None for a list of seeds."""
    return study["seeds"] if is_target(study["seeds"]) else None


def first_round_seeds(study: dict) -> dict:
    """Seeds per group of round 0: the target's first `min` seeds."""
    return {g: list(range(study["seeds"]["min"])) for g in study_groups(study)}


def next_round_seeds(study: dict, decision: dict) -> dict:
    """Seeds per group of the round after `decision` (a round file's content): what it decided,
    or `min` seeds for a group it did not decide (added to the study since)."""
    return seeds_after(decision, study_groups(study), SeedTarget.from_config(study["seeds"]))


def final_round(study: dict, decision_of: Callable[[int], dict]) -> int:
    """The first round that decided every group of the study and stopped them all, asking
    `decision_of(r)` for rounds 0, 1, ... in turn (in the workflow: a checkpoint's output):
    groups added since an earlier round make the rounds go on."""
    r, groups = 0, study_groups(study)
    while not round_is_final(decision_of(r), groups):
        r += 1
    return r


def study_seeds(study: dict, last_decision: Callable[[], dict] | None = None) -> dict:
    """Seeds per group of the whole study: the list, or the seeds of the last round's decision
    (`last_decision()`, asked only for a precision target)."""
    groups = study_groups(study)
    if seed_target(study) is None:
        return {g: list(study["seeds"]) for g in groups}
    return final_group_seeds(last_decision(), groups)


def seeds_on_disk(study: dict, folder, read: Callable[[str], dict] = read_round) -> dict:
    """Seeds per group as far as the round files in `folder` say: round 0's seeds, then what
    each round file there decided, in order, up to the first missing one (no checkpoint asked).
    A list of seeds: the list."""
    if seed_target(study) is None:
        return study_seeds(study)
    seeds, r = first_round_seeds(study), 0
    while os.path.exists(path := os.path.join(folder, ROUND_FILE.format(round=r))):
        seeds = next_round_seeds(study, read(path))
        r += 1
    return seeds


def runs_of(study: dict, seeds_by_group: dict) -> list[dict]:
    """One dict (recipe, block_type, n_blocks, seed) per training run, in study order."""
    return [dict(recipe=r, block_type=b, n_blocks=n, seed=s)
            for r, n in study_groups(study)
            for b in study["block_types"]
            for s in seeds_by_group[(r, n)]]


# --------------------------------------------------------------------------- the check

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
