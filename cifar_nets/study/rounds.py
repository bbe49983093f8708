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

The rule itself (Stein's two-stage size) and the round files are cifar_nets.study.seeds; the
check of every file against that rule, cifar_nets.study.round_rule.
"""
from __future__ import annotations

import os
from typing import Callable

from cifar_nets.study.seeds import (SeedTarget, final_group_seeds, is_target, read_round,
                                    round_is_final, seeds_after)

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
