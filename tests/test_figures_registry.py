"""One owner per name (issue 19, items 3, 4 and 8): every figure is declared once in
cifar_nets/report/figures.py and read by the rules, the scripts and the report; study logic lives in the
package; the paper's tables are also LaTeX, with the CSV's numbers and every text escaped."""
import inspect
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from cifar_nets.report import figures, plots_runs, plots_study
from cifar_nets.tables import dataframe_to_latex, latex_text, write_table
from cifar_nets.study.summary import (SUMMARY_FORMATS, by_model_view, reference_depth,
                              readable, summary_files, summary_tables, write_summary)
from cifar_nets.report.study_report import report_sections
from workflow_helpers import ROOT

STUDY = {"block_types": ["conv", "res"], "n_blocks": [2, 4], "seeds": [0, 1],
         "recipes": ["notebook"]}
ADAPTERS = [*sorted((ROOT / "rules").glob("*.smk")), ROOT / "Snakefile",
            *sorted((ROOT / "workflow_scripts").glob("*.py")),
            *[ROOT / "cifar_nets" / f for f in ("study/summary.py", "report/study_report.py", "report/html.py",
                                                "report/plots.py", "report/plots_runs.py",
                                                "report/plots_study.py")],
            *sorted((ROOT / "report").glob("*.rst"))]


# --------------------------------------------------------------------------- the registry

@pytest.mark.parametrize("fig", figures.FIGURES, ids=[f.name for f in figures.FIGURES])
def test_a_figure_is_named_only_in_the_registry(fig):
    """No rule, script, report module or caption file spells a figure's file name (as a string,
    a .png or .log file, or a <name>_{block} pattern): they all read cifar_nets/report/figures.py."""
    named = re.compile(rf"""["'/]{fig.name}(\.png|\.log|_\{{|["'])""")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in ADAPTERS
             for i, line in enumerate(p.read_text().splitlines(), 1) if named.search(line)]
    assert found == []


def test_the_old_names_are_gone():
    """The figure once called accuracy_vs_parameters, `params` and plot_accuracy_vs_params."""
    texts = "\n".join(p.read_text() for p in ADAPTERS)
    assert "plot_accuracy_vs_params" not in texts and '"params"' not in texts
    assert not hasattr(plots_study, "plot_accuracy_vs_params")


def test_every_entry_has_its_drawing_function_and_every_function_an_entry():
    for fig in figures.FIGURES:
        assert fig.scope in figures.SCOPES and fig.section in figures.SECTIONS, fig
        assert list(inspect.signature(fig.draw()).parameters)[1:] == ["path", "options"], fig
    drawers = {(m.__name__.rsplit(".", 1)[1], n) for m in (plots_runs, plots_study)
               for n in dir(m) if n.startswith("draw_")}
    assert drawers == {(f.module, f.draw_name) for f in figures.FIGURES}
    assert len({f.name for f in figures.FIGURES}) == len(figures.FIGURES)


def test_figure_entries_follow_the_study():
    entries = figures.figure_entries(STUDY)
    paths = [e["path"] for e in entries]
    assert len(paths) == len(set(paths))
    assert "results/figures/accuracy_vs_parameters.png" in paths        # two depths: swept
    assert "results/figures/notebook/n4/confused_pairs_res.png" in paths
    assert len(entries) == 1 + 3 + 2 * (1 + 2 * 2)
    one_depth = figures.figure_entries({**STUDY, "n_blocks": [6]})
    assert "results/figures/accuracy_vs_depth.png" not in [e["path"] for e in one_depth]
    group = figures.figure_entries(STUDY, ("group", "block"), recipe="{recipe}",
                                   n_blocks="{n_blocks}")
    assert [e["path"] for e in group] == [
        "results/figures/{recipe}/n{n_blocks}/" + name for name in
        ("accuracy_curves.png", "confusion_conv.png", "confused_pairs_conv.png",
         "confusion_res.png", "confused_pairs_res.png")]
    assert group[3]["caption"] == "Confusion matrix, Custom_ResNet (summed over seeds)"


def test_a_file_of_no_figure_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"^\S+/nope\.png: no figure of scope study is called "
                                         r"'nope' \(cifar_nets/report/figures\.py FIGURES: "):
        figures.draw("study", _runs(), [str(tmp_path / "nope.png")], {})


def _runs(depths=(2, 4), seeds=(0, 1), recipes=("notebook",)) -> pd.DataFrame:
    rows = [{"recipe": r, "model": {"conv": "Custom_ConvNet", "res": "Custom_ResNet"}[b],
             "block_type": b, "n_blocks": n, "seed": s, "parameters": 1000 * n + 10 * (b == "res"),
             "test_acc": 60.0 + 5 * (b == "res") + s * (1 + (b == "res") / 3) + n / 10}
            for r in recipes for b in ("conv", "res") for n in depths for s in seeds]
    return pd.DataFrame(rows)


def test_a_new_figure_is_one_entry_and_its_function(tmp_path, monkeypatch):
    """Declared in FIGURES with a draw_<name> function: the study draws it, and the report shows
    it in its section with its caption; nothing else is edited."""
    drawn = []

    def draw_my_view(source, path, options):
        drawn.append((len(source), options))
        return plots_study.plot_accuracy_vs_depth(source, path)

    new = figures.Figure("my_view", "study", "plots_study", "My view of the study", "glance")
    monkeypatch.setattr(figures, "FIGURES", (*figures.FIGURES, new))
    monkeypatch.setattr(plots_study, "draw_my_view", draw_my_view, raising=False)
    entries = figures.figure_entries(STUDY)
    assert entries[4]["name"] == "my_view" and entries[4]["path"] == "results/figures/my_view.png"
    runs = _runs()
    study = [e for e in entries if e["scope"] == "study"]
    for e in study:
        e["path"] = str(tmp_path / e["path"])
    figures.draw("study", runs, [e["path"] for e in study], {"top_confused_pairs": 3})
    assert drawn == [(len(runs), {"top_confused_pairs": 3})]
    assert (tmp_path / "results/figures/my_view.png").read_bytes()[:4] == b"\x89PNG"
    tables = summary_tables(runs)
    glance = report_sections(tables, study, "CIFAR-10")[0]
    assert glance["figures"] == [("Test accuracy by model (95% CI over seeds)", study[0]["path"]),
                                 ("My view of the study", study[3]["path"])]


# --------------------------------------------------------------------------- study logic

def test_the_bar_chart_shows_the_notebooks_depth_else_the_deepest():
    assert reference_depth(_runs(depths=(2, 6, 10))) == 6
    assert reference_depth(_runs(depths=(2, 4))) == 4
    both = _runs(depths=(2, 6, 10), recipes=("notebook", "modern"))
    shown, hue = by_model_view(both)
    assert set(shown.n_blocks) == {6} and hue == "recipe"
    shown, hue = by_model_view(_runs(depths=(2, 4)))
    assert len(shown) == 8 and hue == "n_blocks"
    assert by_model_view(_runs(depths=(2,)))[1] is None


def test_summary_tables_hold_every_table_the_rules_write():
    tables = summary_tables(_runs(), environments=pd.DataFrame({"stage": ["train"]}))
    assert set(tables) == set(SUMMARY_FORMATS)
    assert tables["stopping"].status.tolist() == ["fixed list of seeds"] * 2
    assert summary_files("s")[:2] == ["s/runs.csv", "s/runs.md"]
    assert {p for p in summary_files() if p.endswith(".tex")} == {
        "results/summary/seeds.tex", "results/summary/paired.tex"}


def test_adapters_hold_no_study_logic():
    """Each workflow script maps the snakemake object to one or two package calls: no depth,
    no sentence, no table of its own."""
    for path in sorted((ROOT / "workflow_scripts").glob("*.py")):
        code = path.read_text()
        assert "n_blocks == " not in code and "stopping_table" not in code, path.name
        assert "<p>" not in code and "report_intro" not in code, path.name


# --------------------------------------------------------------------------- LaTeX tables

HOSTILE = ["a & b", "100% sure", "under_score", "#1", "$5", "{braces}", "back\\slash", "~^"]


def _numbers(cell: str) -> float | None:
    cell = cell.strip()
    return float(cell) if re.fullmatch(r"-?(\d+(\.\d+)?(e-?\d+)?|inf)", cell) else None


def _rows(tex: str) -> list[list[str]]:
    """The cells of each row between \\midrule and \\bottomrule (split at unescaped &)."""
    body = tex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
    return [[c.strip() for c in re.split(r"(?<!\\)&", line.removesuffix("\\\\").strip())]
            for line in body.strip().splitlines()]


@pytest.mark.parametrize("name", ["seeds", "paired"])
def test_latex_tables_have_the_csvs_numbers(tmp_path, name):
    tables = summary_tables(_runs(seeds=(0, 1, 2)))
    paths = [str(tmp_path / f"{name}.{ext}") for ext in SUMMARY_FORMATS[name]]
    write_summary(paths, tables, "CIFAR-10 & friends_v2")
    csv = readable(name, pd.read_csv(tmp_path / f"{name}.csv"))   # the columns a reader sees
    tex = (tmp_path / f"{name}.tex").read_text()
    assert tex.startswith("% CIFAR-10 \\& friends\\_v2\n\\begin{tabular}")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    rows = _rows(tex)
    assert len(rows) == len(csv) and all(len(r) == len(csv.columns) for r in rows)
    for row, (_, want) in zip(rows, csv.iterrows()):
        for cell, (col, value) in zip(row, want.items()):
            if isinstance(value, (float, np.floating, int, np.integer)) and not isinstance(value, bool):
                if np.isnan(value):
                    assert cell == "", (col, cell)
                else:
                    got = _numbers(cell)
                    tol = 0.005 if abs(value) >= 0.01 else abs(value) * 0.005 + 1e-12
                    assert got is not None and (got == value or abs(got - value) <= tol), \
                        (col, cell, value)
            else:
                assert cell == latex_text(value), (col, cell, value)


def test_latex_escapes_every_special_character():
    df = pd.DataFrame({"label & %": HOSTILE, "value": np.arange(len(HOSTILE)) / 3})
    tex = dataframe_to_latex(df, note="note with % and\nline break")
    assert tex.splitlines()[0] == "% note with \\% and line break"
    assert "label \\& \\%" in tex
    rows = _rows(tex)
    assert [len(r) for r in rows] == [2] * len(HOSTILE)
    assert [r[0] for r in rows] == ["a \\& b", "100\\% sure", "under\\_score", "\\#1", "\\$5",
                                    "\\{braces\\}", "back\\textbackslash{}slash",
                                    "\\textasciitilde{}\\textasciicircum{}"]
    for special in "&%_#$":   # every one of them escaped, everywhere in the body
        body = tex.split("\n", 1)[1]
        assert not re.search(rf"(?<!\\){re.escape(special)}", body.replace(" & ", " ")), special


def test_a_synthetic_table_says_so_on_its_first_line(tmp_path):
    df = pd.DataFrame({"model": ["Custom_ResNet"], "mean": [71.5]})
    write_table(tmp_path / "t.tex", df, note="synthetic", warning="Synthetic data: 50% noise.")
    tex = (tmp_path / "t.tex").read_text().splitlines()
    assert tex[0] == "\\noindent\\textbf{Synthetic data: 50\\% noise.}\\par"
    assert tex[1] == "% synthetic" and "noise" not in "".join(tex[2:])
    write_table(tmp_path / "t.md", df, note="synthetic", warning="Synthetic data: 50% noise.")
    assert (tmp_path / "t.md").read_text().splitlines()[0] == "**Synthetic data: 50% noise.**"
    with pytest.raises(ValueError, match=r"t\.xlsx: a table is written as \.csv, \.md or \.tex"):
        write_table(tmp_path / "t.xlsx", df)


# CI installs TeX (.ci/run) and sets CIFAR_ABLATION_REQUIRE_LATEX, turning this skip into a failure
needs_pdflatex = pytest.mark.skipif(
    not shutil.which("pdflatex") and not os.environ.get("CIFAR_ABLATION_REQUIRE_LATEX"),
    reason="no pdflatex on this machine (apt-get install texlive-latex-recommended)")


def _pdflatex(folder, tables):
    (folder / "doc.tex").write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}"
                                    + "".join(f"\\input{{{t}}}\n\n" for t in tables)
                                    + "\\end{document}\n")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                   cwd=folder, check=True, capture_output=True, timeout=120)
    assert (folder / "doc.pdf").stat().st_size > 1000


@needs_pdflatex
def test_the_studys_latex_tables_compile(tmp_path):
    """seeds.tex and paired.tex as the summary job writes them, with a hostile data label and
    synthetic data's warning line, compile in a document with booktabs."""
    tables = summary_tables(_runs(seeds=(0, 1, 2)))
    paths = [str(tmp_path / f"{n}.tex") for n in ("seeds", "paired")]
    write_summary(paths, tables, "CIFAR-10 & 50% friends_v2 {#1} $x$ ~^\\", synthetic=True)
    _pdflatex(tmp_path, ["seeds.tex", "paired.tex"])


@needs_pdflatex
def test_latex_table_compiles(tmp_path):
    df = pd.DataFrame({"label": HOSTILE, "value": np.arange(len(HOSTILE)) / 3})
    (tmp_path / "t.tex").write_text(dataframe_to_latex(df, warning="Synthetic & random"))
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\\usepackage{booktabs}"
                                      "\\begin{document}\\input{t.tex}\\end{document}\n")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=120)
