"""Round files (results/seeds/round<N>.json) are checked on reading, a bad one is named with what
to do, and a study axis added or removed between rounds works (cifar_nets/study/seeds.py)."""
import json
import math
import os
import re

import pandas as pd
import pytest

from cifar_nets.config import ConfigError
from cifar_nets.study.seeds import (MORE, STOPPED_AT_MAX, TARGET_MET, RoundFileError, SeedTarget,
                              check_round_files, read_round, round_is_final, seeds_after,
                              stopping_table, write_round)
from cifar_nets.study.rounds import check_round_decisions
from workflow_helpers import config, planned_jobs, snakemake, tiny_config

TARGET = {"min": 2, "max": 3, "step": 1, "target_halfwidth": 1.0}


def _group(n_blocks=1, seeds=(0, 1), status=MORE, next_seeds=(0, 1, 2), recipe="notebook",
           widest=5.0):
    return {"recipe": recipe, "n_blocks": n_blocks, "seeds": list(seeds), "widest_halfwidth": widest,
            "status": status, "next_seeds": list(next_seeds)}


def _decision(*groups, round_no=0, done=None):
    groups = list(groups) or [_group()]
    if done is None:
        done = all(g["status"] != MORE for g in groups)
    return {"round": round_no, "target": dict(TARGET), "done": done, "groups": groups}


def _write(folder, decision, name=None):
    path = folder / (name or f"round{decision['round']}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(decision))
    return path


# --------------------------------------------------------------------------- reading and checking

def test_a_written_round_reads_back_the_same(tmp_path):
    groups = [_group(widest=math.inf), _group(n_blocks=2, status=TARGET_MET, next_seeds=(0, 1), widest=0.5)]
    path = tmp_path / "results/seeds/round3.json"
    write_round(path, 3, TARGET, groups)
    d = read_round(path)
    assert d["round"] == 3 and d["target"] == TARGET and d["done"] is False
    assert d["groups"] == groups
    write_round(path, 3, TARGET, groups[1:])
    assert read_round(path)["done"] is True          # the writer's flag comes from seeds.py


def test_truncated_json_is_named_with_what_to_do(tmp_path):
    path = _write(tmp_path, _decision(), "round1.json")
    path.write_text(path.read_text()[:40])
    with pytest.raises(RoundFileError) as e:
        read_round(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: not valid JSON (truncated?)"), msg
    assert "delete it and that round is decided again" in msg and "\n" not in msg


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.pop("groups"), "missing key 'groups'"),
    (lambda d: d["groups"][0].pop("next_seeds"), "groups[0]: missing key 'next_seeds'"),
    (lambda d: d.update(round="0"), "round: '0' is not a non-negative integer"),
    (lambda d: d.update(round=1), "round: 1, but the file is round 0"),
    (lambda d: d.update(done="yes"), "done: 'yes' is not true or false"),
    (lambda d: d.update(groups={"a": 1}), "groups: {'a': 1} is not a list"),
    (lambda d: d["groups"][0].update(n_blocks="1"), "groups[0].n_blocks: '1' is not a non-negative integer"),
    (lambda d: d["groups"][0].update(n_blocks=True), "groups[0].n_blocks: True is not a non-negative integer"),
    (lambda d: d["groups"][0].update(recipe=3), "groups[0].recipe: 3 is not a string"),
    (lambda d: d["groups"][0].update(seeds="0,1"), "groups[0].seeds: '0,1' is not a list"),
    (lambda d: d["groups"][0].update(seeds=[0, -1]), "groups[0].seeds[1]: -1 is not a non-negative integer"),
    (lambda d: d["groups"][0].update(next_seeds=[0, 1.5]),
     "groups[0].next_seeds[1]: 1.5 is not a non-negative integer"),
    (lambda d: d["groups"][0].update(seeds=[0, 0]), "groups[0].seeds: seed 0 twice"),
    (lambda d: d["groups"][0].update(status="maybe"), "groups[0].status: 'maybe' is not one of"),
    (lambda d: d["groups"][0].update(widest_halfwidth=-1),
     "groups[0].widest_halfwidth: -1 is not a non-negative number"),
    (lambda d: d["groups"][0].update(widest_halfwidth="wide"),
     "groups[0].widest_halfwidth: 'wide' is not a non-negative number"),
    (lambda d: d["target"].pop("target_halfwidth"), "target: missing key 'target_halfwidth'"),
    (lambda d: d["groups"].append(_group(seeds=(0, 1, 2))), "groups[1]: group notebook n_blocks 1 twice"),
])
def test_a_hand_edited_round_file_is_named_with_the_key(tmp_path, edit, words):
    d = _decision()
    edit(d)
    path = _write(tmp_path, d, "round0.json")
    with pytest.raises(RoundFileError) as e:
        read_round(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and words in msg, msg
    assert msg.endswith("delete it and that round is decided again") and "\n" not in msg


@pytest.mark.parametrize("text, words", [
    ("", "not valid JSON (truncated?)"),
    ("[1, 2]", "not a JSON object"),
    ('{"round": 0, "round": 0}', "not valid JSON (key 'round' twice)"),
    ('{"round": 0 "target": {}}', "not valid JSON (Expecting ',' delimiter at line 1 column 13)"),
    ('{"round": 0, "target": {', "not valid JSON (truncated?)"),
    ("\xff\xfe", "not valid JSON"),
])
def test_other_broken_files(tmp_path, text, words):
    path = tmp_path / "round0.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(RoundFileError, match=re.escape(words)):
        read_round(path)


def test_check_round_files_names_the_bad_one(tmp_path):
    folder = tmp_path / "results/seeds"
    _write(folder, _decision())
    bad = _write(folder, _decision(round_no=1))
    bad.write_text(bad.read_text()[:-5])
    (folder / ".round2.json.tmp-1-ab").write_text("{")      # a writer's temporary file: not a round
    check_round_files(tmp_path / "nowhere")                  # no folder yet: nothing to check
    with pytest.raises(RoundFileError, match=re.escape(f"{bad}: not valid JSON")):
        check_round_files(folder)


# --------------------------------------------------------------------------- groups added and removed

def test_a_group_the_round_did_not_decide_starts_at_min():
    d = _decision(_group(n_blocks=1, status=TARGET_MET, next_seeds=(0, 1)),
                  _group(n_blocks=6, status=MORE, next_seeds=(0, 1, 2)))
    groups = [("notebook", 1), ("notebook", 2), ("notebook", 6)]   # n_blocks 2 added
    assert seeds_after(d, groups, SeedTarget(**TARGET)) == {
        ("notebook", 1): [0, 1], ("notebook", 2): [0, 1], ("notebook", 6): [0, 1, 2]}
    assert not round_is_final(d, [("notebook", 1), ("notebook", 2)])  # 2 not decided yet
    assert round_is_final(d, [("notebook", 1)])                       # 6 removed: ignored
    assert not round_is_final(d, [("notebook", 1), ("notebook", 6)])  # 6 wants more


def test_the_stopping_table_lists_only_groups_of_the_study():
    runs = pd.DataFrame([{"recipe": "notebook", "n_blocks": 1, "block_type": b, "seed": s, "test_acc": 60.0 + s}
                         for b in ("conv", "res") for s in (0, 1)])
    d = _decision(_group(n_blocks=1, status=TARGET_MET, next_seeds=(0, 1)),
                  _group(n_blocks=2, status=STOPPED_AT_MAX, next_seeds=(0, 1)))
    t = stopping_table(runs, d)
    assert t.n_blocks.tolist() == [1] and t.status.tolist() == [TARGET_MET]


def test_a_precision_target_needs_two_block_types():
    with pytest.raises(ConfigError, match=r"^study\.seeds: .*block type"):
        config(study={"block_types": ["res"], "seeds": dict(TARGET)})
    config(study={"block_types": ["res"], "seeds": [0, 1]})               # a list: fine
    config(study={"block_types": ["conv", "res"], "seeds": dict(TARGET)})


# --------------------------------------------------------------------------- the workflow

RUN_OUTPUTS = ("model.pt", "history.csv", "train.json", "metrics.json", "per_class.csv",
               "confusion.csv", "confused_pairs.csv", "predictions.csv")


def _fake_finished(tmp_path, n_blocks, seeds, block_types=("conv", "res")):
    """The data and the runs on disk, oldest first, as if trained (a dry run reads none of them)."""
    files = [f"results/data/{name}" for name in ("cifar-10-python.tar.gz", "cifar10.npz", "split-seed42.npz")]
    files += [f"results/runs/notebook/{b}/n{n}/seed{s}/{name}"
              for n in n_blocks for b in block_types for s in seeds for name in RUN_OUTPUTS]
    t = 1_600_000_000
    for i, rel in enumerate(files):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("{}")
        os.utime(p, (t + i, t + i))
    return t + len(files)


# hand-written files have no Snakemake metadata, which its provenance triggers read as changed code
MTIME = ("--rerun-triggers", "mtime")


def _seed_config(tmp_path, n_blocks):
    return tiny_config(tmp_path, block_types=["conv", "res"], n_blocks=n_blocks, recipes=["notebook"],
                       seeds=dict(TARGET), engine={"threads": "auto"})


@pytest.mark.workflow
def test_adding_a_depth_between_rounds_builds_the_dag(tmp_path):
    """Round 0 decided n_blocks 1 only (it wants a third seed); n_blocks 2 is then added (its
    first seeds happen to be on disk): the next round trains n1's seed 2 and decides n2 too."""
    cfg = _seed_config(tmp_path, [1, 2])
    t = _fake_finished(tmp_path, [1, 2], [0, 1])
    round0 = _write(tmp_path / "results/seeds", _decision(_group(n_blocks=1)))
    os.utime(round0, (t + 10, t + 10))
    r = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", "1", *MTIME)
    assert "KeyError" not in r.out and "Traceback" not in r.out, r.out[-3000:]
    jobs = planned_jobs(r.out)
    assert jobs["train"] == 2 and jobs["seed_round"] == 1, r.out[-3000:]
    assert "notebook/res/n1/seed2/train.json" in r.out and "/n2/seed2/" not in r.out
    # the depth removed again: the round's n2 is ignored and n1 goes on
    os.utime(_write(tmp_path / "results/seeds", _decision(_group(n_blocks=1), _group(n_blocks=2))),
             (t + 10, t + 10))
    r = snakemake(tmp_path, "--configfile", str(_seed_config(tmp_path, [1])), "-n", "--cores", "1", *MTIME)
    jobs = planned_jobs(r.out)
    assert jobs["train"] == 2 and jobs["seed_round"] == 1 and "/n2/" not in r.out, r.out[-3000:]


@pytest.mark.workflow
def test_a_truncated_round_file_is_one_line_naming_the_file(tmp_path):
    cfg = _seed_config(tmp_path, [1])
    t = _fake_finished(tmp_path, [1], [0, 1])
    round0 = _write(tmp_path / "results/seeds", _decision(_group(n_blocks=1)))
    round0.write_text(round0.read_text()[:50])
    os.utime(round0, (t + 10, t + 10))
    r = snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", "1", *MTIME, ok=False)
    line = ("results/seeds/round0.json: not valid JSON (truncated?) - delete it and that round is "
            "decided again")
    assert line in r.out.splitlines(), r.out[-3000:]
    assert "Traceback" not in r.out and "JSONDecodeError" not in r.out, r.out[-3000:]
    round0.unlink()                                 # what the message says: the round is redone
    jobs = planned_jobs(snakemake(tmp_path, "--configfile", str(cfg), "-n", "--cores", "1", *MTIME).out)
    assert jobs.get("seed_round") == 1 and "train" not in jobs, jobs


# --------------------------------------------------------------------------- decisions against the rule

def _rounds(folder, *decisions):
    for d in decisions:
        _write(folder, d)
    return folder


def test_decisions_the_rule_gives_pass(tmp_path):
    folder = _rounds(tmp_path, _decision(_group()),
                     _decision(_group(seeds=(0, 1, 2), status=STOPPED_AT_MAX, next_seeds=(0, 1, 2)),
                               round_no=1))
    check_round_decisions(folder)


@pytest.mark.parametrize("group,words", [
    # the reproduction: 12 seeds scheduled under max: 3
    (_group(next_seeds=range(12)), "groups[0].next_seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] "
                                   "(the rule gives [0, 1, 2])"),
    (_group(seeds=range(5), status=STOPPED_AT_MAX, next_seeds=range(5)), "groups[0].seeds: [0, 1, 2, 3, 4]"),
    (_group(seeds=(0, 7)), "groups[0].seeds: [0, 7] (expected 0..n-1"),
    (_group(widest=0.5), "groups[0].status: 'more seeds' for 2 seeds and half-width 0.5"),
    (_group(status=TARGET_MET, next_seeds=(0, 1)), "groups[0].status: 'target met'"),
    (_group(status=TARGET_MET, next_seeds=(0, 1, 2), widest=0.5), "groups[0].next_seeds: [0, 1, 2]"),
])
def test_a_hand_edited_decision_is_refused_naming_the_file(tmp_path, group, words):
    path = _write(tmp_path, _decision(group))
    read_round(path)                                        # a valid structure ...
    with pytest.raises(RoundFileError) as e:               # ... but not what the rule gives
        check_round_decisions(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: {words}"), msg
    assert msg.endswith("delete it and that round is decided again") and "\n" not in msg


def test_done_target_and_seeds_before_are_checked_too(tmp_path):
    _write(tmp_path, _decision(done=True))
    with pytest.raises(RoundFileError, match=r"round0\.json: done: true for these statuses"):
        check_round_decisions(tmp_path)
    for target in ({"target_halfwidth": 1.0}, dict(TARGET, min=4), dict(TARGET, step="1")):
        _write(tmp_path, dict(_decision(), target=target))
        with pytest.raises(RoundFileError, match=r"round0\.json: target .* \(expected integers min"):
            check_round_decisions(tmp_path)
    # round 1 evaluates seeds round 0 did not give
    _write(tmp_path, _decision(_group(status=TARGET_MET, next_seeds=(0, 1), widest=0.5)))
    _write(tmp_path, _decision(_group(seeds=(0, 1, 2), status=STOPPED_AT_MAX, next_seeds=(0, 1, 2)),
                               round_no=1))
    with pytest.raises(RoundFileError, match=r"round1\.json: groups\[0\]\.seeds: \[0, 1, 2\], but the "
                                             r"round before gave \[0, 1\]"):
        check_round_decisions(tmp_path)
