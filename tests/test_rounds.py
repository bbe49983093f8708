"""The workflow's seed state from the config and the round files on disk (cifar_nets/study/rounds.py),
which rules/seeds.smk only hands Snakemake's checkpoints."""
import pytest

from cifar_nets.study.rounds import (final_round, first_round_seeds, next_round_seeds, runs_of,
                                     seed_target, seeds_on_disk, study_groups, study_seeds)
from cifar_nets.study.seeds import (MORE, STOPPED_AT_MAX, TARGET_MET, RoundFileError, read_round,
                                    write_round)

TARGET = {"min": 2, "max": 4, "step": 1, "target_halfwidth": 1.0}


def study(seeds=None, n_blocks=(2, 6), recipes=("notebook",), block_types=("conv", "res")):
    return {"recipes": list(recipes), "n_blocks": list(n_blocks), "block_types": list(block_types),
            "seeds": dict(TARGET) if seeds is None else seeds}


def group(n_blocks, seeds, status, next_seeds, widest=1.0, recipe="notebook"):
    return {"recipe": recipe, "n_blocks": n_blocks, "seeds": list(seeds),
            "widest_halfwidth": widest, "status": status, "next_seeds": list(next_seeds)}


ROUND0 = [group(2, [0, 1], MORE, [0, 1, 2, 3], widest=1.5), group(6, [0, 1], TARGET_MET, [0, 1], 0.5)]
ROUND1 = [group(2, [0, 1, 2, 3], STOPPED_AT_MAX, [0, 1, 2, 3], widest=1.5),
          group(6, [0, 1], TARGET_MET, [0, 1], 0.5)]


def write_rounds(folder, *rounds):
    for r, groups in enumerate(rounds):
        write_round(folder / f"round{r}.json", r, TARGET, groups)


def test_groups_and_target():
    assert study_groups(study(recipes=["notebook", "modern"], n_blocks=[2])) == [
        ("notebook", 2), ("modern", 2)]
    assert seed_target(study()) == TARGET and seed_target(study(seeds=[0, 1])) is None


def test_a_list_of_seeds_needs_no_round():
    s = study(seeds=[3, 5])
    asked = []
    assert study_seeds(s, lambda: asked.append(1)) == {("notebook", 2): [3, 5], ("notebook", 6): [3, 5]}
    assert seeds_on_disk(s, "nowhere") == study_seeds(s) and not asked


def test_the_seeds_of_each_round(tmp_path):
    s = study()
    assert first_round_seeds(s) == {("notebook", 2): [0, 1], ("notebook", 6): [0, 1]}
    decision = write_round(tmp_path / "round0.json", 0, TARGET, ROUND0)
    assert next_round_seeds(s, decision) == {("notebook", 2): [0, 1, 2, 3], ("notebook", 6): [0, 1]}
    # a depth added since round 0 starts at min seeds
    added = study(n_blocks=[2, 6, 12])
    assert next_round_seeds(added, decision)[("notebook", 12)] == [0, 1]


def test_seeds_on_disk_follow_the_round_files_there(tmp_path):
    s = study()
    assert seeds_on_disk(s, tmp_path / "none yet") == first_round_seeds(s)
    write_rounds(tmp_path, ROUND0)
    assert seeds_on_disk(s, tmp_path)[("notebook", 2)] == [0, 1, 2, 3]
    write_rounds(tmp_path, ROUND0, ROUND1)
    assert seeds_on_disk(s, tmp_path) == {("notebook", 2): [0, 1, 2, 3], ("notebook", 6): [0, 1]}
    (tmp_path / "round1.json").write_text("{")          # a bad file is the reader's one line
    with pytest.raises(RoundFileError, match="round1.json"):
        seeds_on_disk(s, tmp_path)


def test_the_last_round_is_the_first_that_stops_every_group(tmp_path):
    write_rounds(tmp_path, ROUND0, ROUND1)
    asked = []

    def decision_of(r):
        asked.append(r)
        return read_round(tmp_path / f"round{r}.json")

    assert final_round(study(), decision_of) == 1 and asked == [0, 1]
    last = read_round(tmp_path / "round1.json")
    assert study_seeds(study(), lambda: last) == {("notebook", 2): [0, 1, 2, 3],
                                                 ("notebook", 6): [0, 1]}
    # a recipe added after the last round: that round no longer stops the study, round 2 is asked
    asked.clear()
    with pytest.raises(RoundFileError):
        final_round(study(recipes=["notebook", "modern"]), decision_of)
    assert asked == [0, 1, 2]


def test_runs_in_study_order():
    s = study(n_blocks=[2])
    assert runs_of(s, {("notebook", 2): [0, 1]}) == [
        {"recipe": "notebook", "block_type": "conv", "n_blocks": 2, "seed": 0},
        {"recipe": "notebook", "block_type": "conv", "n_blocks": 2, "seed": 1},
        {"recipe": "notebook", "block_type": "res", "n_blocks": 2, "seed": 0},
        {"recipe": "notebook", "block_type": "res", "n_blocks": 2, "seed": 1}]
