"""Every string a user controls (data.label, data.source, recipe names, host and device names,
the config dump) lands in the HTML report and the Markdown summaries as text: escaped where it
lands, never as markup. The workflow scripts run here with a stand-in `snakemake` object, so
these tests are fast; one workflow test runs the real Snakemake with a hostile label."""
import html
import html.parser
import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from cifar_nets.report.figures import figure_entries
from cifar_nets.params import escape_params
from cifar_nets.report.html import build_report
from cifar_nets.tables import dataframe_to_markdown
from cifar_nets.study.summary import summary_files

ROOT = Path(__file__).resolve().parent.parent

LABELS = [
    "<script>alert(1)</script>",
    "--> <!-- not a comment",
    "\"double\" and 'single' quotes",
    "a & b &amp; c &lt; d",
    "Ünïcödé — 猫 ✓ ±",
    "</title></style><script>alert(\"x\")</script><!--",
    "two\nlines\r\nand a\ttab",
]


class Page(html.parser.HTMLParser):
    """Every start tag, the text of each element by tag, and all comments of an HTML page."""

    def __init__(self, doc: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.open, self.text, self.comments, self.data = [], [], {}, [], []
        self.feed(doc)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in {"meta", "img", "br", "hr", "link"}:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (tag, self.open[-3:])
        self.open.pop()

    def handle_data(self, data):
        self.data.append(data)
        for tag in set(self.open):
            self.text.setdefault(tag, []).append(data)

    def handle_comment(self, data):
        self.comments.append(data)

    def all_text(self, tag=None) -> str:
        return "".join(self.data if tag is None else self.text.get(tag, []))


def _normal(text: str) -> str:
    """What HTML shows of `text`: line breaks and tabs read as spaces."""
    return " ".join(text.split())


# --------------------------------------------------------------------------- stand-in snakemake

def read_markdown_comment(line: str) -> str:
    """The text of a one-line `<!-- ... -->` comment written by report.markdown_comment."""
    assert line.startswith("<!-- ") and line.endswith(" -->"), line
    return html.unescape(line[5:-4])


def run_script(name: str, **job):
    log = job.pop("log")
    runpy.run_path(str(ROOT / "workflow_scripts" / f"{name}.py"),
                   init_globals={"snakemake": SimpleNamespace(log=[str(log)], **job)},
                   run_name="__main__")


def _png(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # the report only embeds the bytes
    return str(path)


STUDY = {"block_types": ["conv", "res"], "n_blocks": [2], "seeds": [0, 1], "recipes": ["my_recipe"]}


def run_study_scripts(tmp: Path, label: str, host: str = "node-1", device_name: str = "cpu"):
    """summarize.py and report.py on four made-up runs; returns the report and summary paths."""
    train, metrics, pairs, runs = [], [], [], []
    for bt in STUDY["block_types"]:
        for seed in STUDY["seeds"]:
            run = tmp / "runs" / bt / str(seed)
            run.mkdir(parents=True)
            env = {"host": host, "device_name": device_name, "device": "cpu", "torch": "2.4",
                   "threads": 1, "bf16": False, "channels_last": True, "compile": False}
            acc = 60.0 + 5 * (bt == "res") + seed
            (run / "train.json").write_text(json.dumps({
                "recipe": "my_recipe", "model": {"conv": "Custom_ConvNet", "res": "Custom_ResNet"}[bt],
                "block_type": bt, "n_blocks": 2, "seed": seed, "parameters": 1000,
                "best_val_acc": acc, "final_train_acc": acc + 5, "train_val_gap": 5.0, "best_epoch": 1,
                "train_seconds": 1.0, "train_images_per_s": 100.0, **env}))
            (run / "metrics.json").write_text(json.dumps({"test_acc": acc, **env}))
            pd.DataFrame({"class_a": ["cat"], "class_b": ["dog"], "count": [3]}).to_csv(
                run / "pairs.csv", index=False)
            train.append(str(run / "train.json"))
            metrics.append(str(run / "metrics.json"))
            pairs.append(str(run / "pairs.csv"))
            runs.append({"recipe": "my_recipe", "n_blocks": 2, "block_type": bt})
    summary = tmp / "summary"
    outputs = [str(tmp / path) for path in summary_files("summary")]
    cache = tmp / "cache.npz"   # all summarize reads of the cache: whether its data are synthetic
    np.savez(cache, synthetic=np.array(False))
    run_script("summarize", input=SimpleNamespace(train=train, metrics=metrics, predictions=[],
                                                  rounds=[], data=str(cache)),
               output=outputs, params=SimpleNamespace(data_label=escape_params(label), target=None, synthetic=False,
                                                      stats={}),
               log=tmp / "summarize.log")

    figures = figure_entries(STUDY)   # every figure of the study, each a stand-in PNG
    for entry in figures:
        entry["path"] = _png(tmp / entry["path"])
    config = {"data": {"label": label, "source": f"/data/{label}/cifar.tar.gz"},
              "study": STUDY, "recipes": {"my_recipe": {"epochs": 1}}}
    report = tmp / "report.html"
    run_script("report",
               input=SimpleNamespace(summary=[p for p in outputs if p.endswith(".csv")],
                                     figures=[e["path"] for e in figures], pairs=pairs),
               output=[str(report)], log=tmp / "report.log",
               params=SimpleNamespace(study=STUDY, figures=figures, runs=runs,
                                      data_label=escape_params(label),    # as the rules pass them
                                      config=escape_params(config)))
    return report, summary


# --------------------------------------------------------------------------- the HTML report

@pytest.mark.parametrize("label", LABELS)
def test_label_lands_in_the_report_as_text(tmp_path, label):
    report, _ = run_study_scripts(tmp_path, label)
    doc = report.read_text(encoding="utf-8")
    page = Page(doc)
    assert "<script" not in doc.lower()
    assert [t for t, _ in page.tags if t == "script"] == []
    assert page.comments == []
    shown = _normal(label)
    assert page.all_text("title") == f"CIFAR-10 ablation study ({label})".replace("\r\n", "\n")
    assert _normal(page.all_text("h1")) == _normal(f"CIFAR-10 ablation study ({label})")
    intro = _normal(page.all_text("header"))
    assert f"DeepNet on {shown}, over block types conv, res" in intro
    assert f"Images from {shown}." in _normal(page.all_text("li"))
    assert f"On {shown} with the my_recipe recipe and 2 blocks" in _normal(page.all_text("ul"))
    # the config dump shows the configuration: its YAML reads back to the same label and source
    (pre,) = page.text["pre"]
    dumped = yaml.safe_load(pre)
    assert dumped["data"] == {"label": label, "source": f"/data/{label}/cifar.tar.gz"}
    # the structure is the one of a normal report: no element came from the label
    normal = Page(run_study_scripts(tmp_path / "plain", "CIFAR-10")[0].read_text())
    assert [t for t, _ in page.tags] == [t for t, _ in normal.tags]


def test_host_and_device_names_land_as_text(tmp_path):
    host, device = "<b>node</b>&1\"", "<img src=x onerror=alert(1)>|GPU"
    report, summary = run_study_scripts(tmp_path, "CIFAR-10", host=host, device_name=device)
    page = Page(report.read_text())
    assert [t for t, _ in page.tags if t in ("b", "script")] == []
    assert [a for t, a in page.tags if t == "img" and "onerror" in a] == []
    cells = page.text["td"]
    assert host in cells and device in cells
    assert f"on 1 host(s): {host}; devices: {device}." in page.all_text("li")
    md = (summary / "environments.md").read_text()
    assert "<b>" not in md and "<img" not in md
    row = next(line for line in md.splitlines() if "node" in line)
    assert html.unescape(row).count(host) == 1 and "\\|GPU" in row  # pipe kept out of the grid


def test_build_report_escapes_everything_given_as_text(tmp_path):
    evil = "<script>alert('t')</script> & \"q\" -->"
    df = pd.DataFrame({evil: [evil, 1.5]})
    path = tmp_path / "r.html"
    build_report(path, title=evil, intro=evil, config={evil: [evil]}, environment={evil: evil},
                 sections=[{"title": evil, "sentences": [evil], "tables": [(evil, df)],
                            "figures": [(evil, _png(tmp_path / "f.png"))]}])
    doc = path.read_text()
    page = Page(doc)
    assert "<script" not in doc and page.comments == []
    assert [t for t, _ in page.tags].count("img") == 1
    (img,) = [a for t, a in page.tags if t == "img"]
    assert img["alt"] == evil
    text = page.all_text()
    assert text.count(evil) >= 8  # title, h1, intro, toc, h2, sentence, caption, th, td, figcaption, env


def test_markup_intro_is_kept_and_its_values_escaped():
    from cifar_nets.study.summary import report_intro

    intro = report_intro(4, "<i>x</i> & y", {**STUDY, "seeds": {"min": 2, "max": 6, "step": 2,
                                                            "target_halfwidth": 1.5}})
    page = Page(str(intro))
    assert [t for t, _ in page.tags] == ["p", "code"]
    assert "on <i>x</i> & y, over block types conv, res" in page.all_text()
    assert "±1.5 points (2 to 6 seeds)" in page.all_text()


# --------------------------------------------------------------------------- Markdown

@pytest.mark.parametrize("label", LABELS)
def test_label_in_the_markdown_comment_round_trips(tmp_path, label):
    _, summary = run_study_scripts(tmp_path, label)
    for name in ("runs", "seeds", "paired", "environments", "stopping"):
        text = (summary / f"{name}.md").read_text(encoding="utf-8")
        first, second, *_ = text.splitlines()
        page = Page(text)
        assert len(page.comments) == 1, page.comments  # one comment, closed on the first line
        assert first.startswith("<!-- ") and first.endswith(" -->") and first.count("-->") == 1
        assert read_markdown_comment(first) == label
        assert second.startswith("| ") and "<script" not in text
        assert pd.read_csv(summary / f"{name}.csv").shape[0] == len(text.splitlines()) - 3


@pytest.mark.parametrize("text", LABELS + ["", "-", "->", "x<!-", "--!>", ">", "a--b"])
def test_markdown_comment_is_one_closed_comment(text):
    from cifar_nets.tables import markdown_comment

    line = markdown_comment(text)
    assert "\n" not in line and "\r" not in line
    page = Page(line + "\nafter")
    assert len(page.comments) == 1 and page.all_text().strip() == "after"
    assert read_markdown_comment(line) == text


def test_markdown_cells_hold_text_not_markup():
    df = pd.DataFrame({"name": ["<script>x</script>", "a|b", "l1\nl2", "a & b", "007", "1e3"],
                       "n": [1, 2, 3, 4, 5, 6]})
    md = dataframe_to_markdown(df)
    lines = md.splitlines()
    assert len(lines) == 2 + len(df)  # a newline in a cell does not start a row
    assert "<script" not in md
    cells = [ln.strip("|").split(" | ")[0].strip() for ln in lines[2:]]
    assert [html.unescape(c).replace("\\|", "|") for c in cells] == \
        ["<script>x</script>", "a|b", "l1 l2", "a & b", "007", "1e3"]  # strings stay as written


# --------------------------------------------------------------------------- file names

@pytest.mark.parametrize("name", ["../evil", "a/b", "x y", "<b>", "ü"])
def test_recipe_names_that_would_make_paths_are_refused(name):
    from cifar_nets.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"^(study\.)?recipes\."):  # the key, then why
        load_config(overrides={"study": {"recipes": [name]}, "recipes": {name: {
            "epochs": 1, "batch_size": 8, "lr": 0.1}}})


# --------------------------------------------------------------------------- the real workflow

@pytest.mark.workflow
def test_workflow_with_a_hostile_label(tmp_path):
    from workflow_helpers import snakemake, tiny_config

    label = "</title><script>alert(\"x\")</script> --> & Ünï"
    cfg_path = tiny_config(tmp_path, block_types=["conv"], n_blocks=[1], seeds=[0],
                           recipes=["notebook"])
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["data"]["label"] = label
    cfg_path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    snakemake(tmp_path, "--configfile", str(cfg_path), "--cores", "2")
    doc = (tmp_path / "results/report.html").read_text(encoding="utf-8")
    page = Page(doc)
    assert "<script" not in doc and page.comments == []
    assert page.all_text("title") == f"CIFAR-10 ablation study ({label})"
    lines = (tmp_path / "results/summary/runs.md").read_text(encoding="utf-8").splitlines()
    # the test archive is synthetic: its warning is the first line, the label's comment next
    assert lines[0].startswith("**SYNTHETIC DATA: ")
    assert read_markdown_comment(lines[2]) == label
