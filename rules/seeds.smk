# Which seeds the study trains. study.seeds is a list, or a precision target {min, max, step,
# target_halfwidth}: then seeds come in rounds, one checkpoint per round deciding, per (recipe,
# n_blocks) group, whether its paired intervals are narrow enough or it needs more seeds, and the
# seeds of each group are known only once its last round has run. The functions below turn
# Snakemake's checkpoints into round files for cifar_nets/study/rounds.py, which answers the rest.
from cifar_nets.study.rounds import check_round_decisions
from cifar_nets.study.rounds import (
    final_round,
    first_round_seeds,
    next_round_seeds,
    seed_target,
    seeds_on_disk,
    study_seeds,
)
from cifar_nets.study.seeds import RoundFileError, read_round

SEED_TARGET = seed_target(STUDY)
SEED_ROUND = "results/seeds/round{round}.json"


def _round_file_error(check, *args):
    """check(*args), a bad round file made one line naming it (never a traceback)."""
    try:
        return check(*args)
    except RoundFileError as exc:
        raise WorkflowError(str(exc)) from None


# Every round file on disk is read and checked (structure, and each decision against the seed
# rule that made it, cifar_nets/study/rounds.py) before the DAG is built. A check only.
if SEED_TARGET is not None:
    _round_file_error(check_round_decisions, os.path.dirname(SEED_ROUND))


def decided_round(r):
    """Round r's decision, once its checkpoint has run (input functions only)."""
    path = checkpoints.seed_round.get(round=r).output[0]
    return _round_file_error(read_round, path)


def seeds_for_round(r):
    """Seeds per group that round r evaluates: `min` in round 0, then what round r-1 decided
    (`min` for a group it did not decide: added to the study since). Input functions only.
    """
    if r == 0:
        return first_round_seeds(STUDY)
    return next_round_seeds(STUDY, decided_round(r - 1))


def last_round():
    """The first round that decided every group and stopped them all (input functions only)."""
    return final_round(STUDY, decided_round)


def final_seeds():
    """Seeds per group of the whole study: the list, or the seeds of the last round."""
    return study_seeds(STUDY, lambda: decided_round(last_round()))


def known_seeds():
    """Seeds per group as far as the rounds on disk say (never asks for a checkpoint)."""
    return _round_file_error(seeds_on_disk, STUDY, os.path.dirname(SEED_ROUND))


def round_files(r, pattern):
    return [pattern.format(**run) for run in runs_of(STUDY, seeds_for_round(r))]


def seed_decision(wildcards):
    """The last round's decision file, or nothing for a list of seeds."""
    return [] if SEED_TARGET is None else [SEED_ROUND.format(round=last_round())]


checkpoint seed_round:
    input:
        train=lambda wildcards: round_files(
            int(wildcards.round), run_path("train.json")
        ),
        metrics=lambda wildcards: round_files(
            int(wildcards.round), run_path("metrics.json")
        ),
    output:
        SEED_ROUND,
    log:
        "logs/seeds/round{round}.log",
    conda:
        "../envs/cifar-ablation.yaml"
    params:
        target=SEED_TARGET,
    script:
        "../workflow_scripts/seed_round.py"
