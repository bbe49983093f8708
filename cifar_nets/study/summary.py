"""The study as a whole: the runs table, its statistics and summary tables, and the sentences
the report states, each generated here from the numbers (the report's sections:
cifar_nets/report/study_report.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cifar_nets import MODEL_NAMES, block_order
from cifar_nets.tables import render_html, write_table
from cifar_nets.study.seeds import stopping_table
from cifar_nets.study.stats import seed_summary
from cifar_nets.study.verdicts import StatsSettings, describe_comparison, family_sentence, paired_comparisons

RUN_COLUMNS = [
    "recipe", "model", "block_type", "n_blocks", "seed", "parameters", "test_acc", "best_val_acc",
    "final_train_acc", "train_val_gap", "best_epoch", "train_seconds", "train_images_per_s",
]
NOTEBOOK_TEST_ACC = {"conv": 65.18, "res": 71.48, "skip": 69.38}
NOTEBOOK_N_BLOCKS = 6   # the notebook's depth, the one its numbers above are for

# The summary tables (results/summary/<name>.<ext>) and their formats: CSV for code, Markdown to
# read, LaTeX (booktabs) for a paper; the rules read this list.
SUMMARY_FORMATS = {"runs": ("csv", "md"), "seeds": ("csv", "md", "tex"),
                   "paired": ("csv", "md", "tex"), "environments": ("csv", "md"),
                   "stopping": ("csv", "md")}


def summary_files(folder: str = "results/summary") -> list[str]:
    return [f"{folder}/{name}.{ext}" for name, exts in SUMMARY_FORMATS.items() for ext in exts]


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("recipe", "n_blocks", "block_type", "seed") if c in df.columns]
    if not keys:
        return df.reset_index(drop=True)
    return df.sort_values(keys, key=lambda s: s.map({b: i for i, b in enumerate(block_order(s))})
                          if s.name == "block_type" else s,
                          kind="stable").reset_index(drop=True)


def collect_runs(train_jsons, metrics_jsons) -> pd.DataFrame:
    """One row per run from its train.json and metrics.json."""
    rows = []
    for tpath, mpath in zip(train_jsons, metrics_jsons, strict=True):
        t = json.loads(Path(tpath).read_text())
        m = json.loads(Path(mpath).read_text())
        rows.append({**{k: t.get(k) for k in RUN_COLUMNS}, "test_acc": m["test_acc"]})
    return _sort(pd.DataFrame(rows, columns=RUN_COLUMNS))


ENV_COLUMNS = ["stage", "host", "device_name", "device", "torch", "cuda", "cudnn", "threads",
               "bf16", "channels_last", "compile", "tf32"]


def collect_environments(train_jsons, metrics_jsons) -> pd.DataFrame:
    """The distinct environments the runs trained and were evaluated in (from train.json and
    metrics.json): one row per distinct setting, with how many runs and which device slots."""
    rows = []
    for stage, paths in (("train", train_jsons), ("evaluate", metrics_jsons)):
        for path in paths:
            d = json.loads(Path(path).read_text())
            if stage == "evaluate":
                d = dict(d, bf16=d.get("eval_bf16"), channels_last=d.get("eval_channels_last"))
            row = {k: d.get(k) for k in ENV_COLUMNS[1:]}
            rows.append({"stage": stage, **{k: ("" if v is None else str(v)) for k, v in row.items()},
                         "slot": d.get("gpu_slot") or ""})
    if not rows:
        return pd.DataFrame(columns=ENV_COLUMNS + ["runs", "slots"])
    df = pd.DataFrame(rows)
    out = (df.groupby(ENV_COLUMNS, sort=False, dropna=False)
           .agg(runs=("slot", "size"),
                slots=("slot", lambda s: ", ".join(sorted({x for x in s if x})) or "none"))
           .reset_index())
    return out


def collect_correct(train_jsons, prediction_csvs) -> dict:
    """(recipe, n_blocks, block_type, seed) -> which test images the run got right (its
    predictions.csv), for the interval over seeds and test images."""
    out = {}
    for tpath, ppath in zip(train_jsons, prediction_csvs, strict=True):
        t = json.loads(Path(tpath).read_text())
        key = (t["recipe"], int(t["n_blocks"]), t["block_type"], int(t["seed"]))
        try:
            col = pd.read_csv(ppath)["correct"]
        except (KeyError, ValueError, OSError) as exc:
            raise ValueError(f"{ppath}: no readable 'correct' column ({type(exc).__name__}); "
                             f"delete it and run again to evaluate that run anew") from None
        if col.dtype != bool:
            raise ValueError(f"{ppath}: column 'correct' holds other values than True/False; "
                             f"delete it and run again to evaluate that run anew")
        out[key] = col.to_numpy()
    sizes = {len(v) for v in out.values()}
    if len(sizes) > 1:
        raise ValueError(f"the runs' predictions.csv files cover different numbers of test images "
                         f"({', '.join(map(str, sorted(sizes)))}); rerun their evaluation")
    return out


def summary_tables(runs: pd.DataFrame, environments: pd.DataFrame | None = None,
                   decision: dict | None = None, settings: StatsSettings | None = None,
                   correct: dict | None = None) -> dict[str, pd.DataFrame]:
    """Every summary table of SUMMARY_FORMATS (environments only when given): seed statistics,
    paired comparisons with their verdicts (`settings`: the config's stats section; `correct`:
    collect_correct's per-image results, for the interval over seeds and test images) and why
    each group has its seeds (`decision`: the last seed round's, or None for a list of seeds;
    a precision target's comparisons use Stein's two-stage test, cifar_nets/study/seeds.py)."""
    settings = settings or StatsSettings()
    seeds = _sort(seed_summary(runs, ("recipe", "model", "block_type", "n_blocks"), "test_acc",
                               settings.confidence))
    paired = paired_comparisons(runs, by=("recipe", "n_blocks"), item_col="block_type",
                                pair_col="seed", value_col="test_acc", settings=settings,
                                correct=correct,
                                first_stage=decision["target"].get("min") if decision else None)
    if len(paired):
        paired.insert(paired.columns.get_loc("a") + 1, "model_a", paired["a"].map(MODEL_NAMES))
        paired.insert(paired.columns.get_loc("b") + 1, "model_b", paired["b"].map(MODEL_NAMES))
    tables = {"runs": runs, "seeds": seeds, "paired": paired}
    if environments is not None:
        tables["environments"] = environments
    tables["stopping"] = stopping_table(runs, decision)
    return tables


# The columns the Markdown and LaTeX tables (and the report) show; the CSV holds every column
READABLE_COLUMNS = {"paired": ["recipe", "n_blocks", "model_a", "model_b", "n_pairs", "mean_diff",
                               "ci_low", "ci_high", "gen_ci_low", "gen_ci_high", "p_a_better",
                               "p_value", "p_adjusted", "p_equivalence_adjusted", "verdict",
                               "winner", "seeds_to_decide"]}


def readable(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """The columns of summary table `name` a reader sees (READABLE_COLUMNS; all for the others)."""
    cols = READABLE_COLUMNS.get(name)
    return df if cols is None else df[[c for c in cols if c in df.columns]]


def write_summary(paths, tables: dict[str, pd.DataFrame], data_label: str,
                  synthetic: bool = False) -> None:
    """Each results/summary/<name>.<csv|md|tex> file of `paths` from its table; the Markdown and
    LaTeX ones open with the data's label. For synthetic data the first line of every file says
    the numbers mean nothing: the CSV's first column (SYNTHETIC_COLUMN, read back by
    :func:`read_summary`), the Markdown's and LaTeX's first line (SYNTHETIC_WARNING)."""
    for path in paths:
        df = tables[Path(path).stem]
        if Path(path).suffix != ".csv":
            df = readable(Path(path).stem, df)
        if synthetic and Path(path).suffix == ".csv":
            df = df.copy()
            df.insert(0, SYNTHETIC_COLUMN, SYNTHETIC_CELL)
        write_table(path, df, note=data_label, warning=SYNTHETIC_WARNING if synthetic else None)


def read_summary(path, **read_csv) -> tuple[pd.DataFrame, bool]:
    """A summary table's CSV (results/summary/<name>.csv) and whether it is marked synthetic:
    its mark column (SYNTHETIC_COLUMN), when there, is dropped from the table."""
    df = pd.read_csv(path, **read_csv)
    synthetic = SYNTHETIC_COLUMN in df.columns
    return (df.drop(columns=SYNTHETIC_COLUMN) if synthetic else df), synthetic


def reference_depth(runs: pd.DataFrame) -> int:
    """The depth the study-wide bar chart shows when several are swept: the notebook's
    (NOTEBOOK_N_BLOCKS) when the study has it, else the deepest."""
    depths = set(runs.n_blocks)
    return NOTEBOOK_N_BLOCKS if NOTEBOOK_N_BLOCKS in depths else max(depths)


def by_model_view(runs: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The runs the accuracy-by-model figure shows, and what its bars are split by: every run,
    split by the swept axis (recipe before n_blocks); with both swept, the runs at the
    reference depth split by recipe."""
    several = {axis: runs[axis].nunique() > 1 for axis in ("recipe", "n_blocks")}
    if several["recipe"] and several["n_blocks"]:
        runs = runs[runs.n_blocks == reference_depth(runs)]
    return runs, ("recipe" if several["recipe"] else "n_blocks" if several["n_blocks"] else None)


# --------------------------------------------------------------------------- sentences

def _pct(x: float) -> str:
    return f"{x:.2f}%"


def ranking_sentence(seeds: pd.DataFrame, recipe: str, n_blocks: int, data_label: str) -> str:
    """The group's mean test accuracies, highest first: a description, not a verdict (the
    verdicts are comparison_sentences')."""
    g = seeds[(seeds.recipe == recipe) & (seeds.n_blocks == n_blocks)].sort_values(
        "mean", ascending=False)
    if g.empty:
        return ""
    n = int(g["n_seeds"].min())
    seeds_txt = f"mean over {n} seeds" if n > 1 else "one seed each, no verdict possible"
    listed = ", ".join(f"{r.model} {_pct(r['mean'])}" for _, r in g.iterrows())
    return (f"On {data_label} with the {recipe} recipe and {n_blocks} blocks, test accuracy "
            f"({seeds_txt}): {listed}.")


def comparison_sentences(paired: pd.DataFrame, recipe: str, n_blocks: int) -> list[str]:
    g = paired[(paired.recipe == recipe) & (paired.n_blocks == n_blocks)]
    return [describe_comparison(r, names=MODEL_NAMES) for _, r in g.iterrows()]


def verdict_sentences(paired: pd.DataFrame) -> list[str]:
    """The family and method sentence, then what each interval answers."""
    if paired.empty or not (paired.n_pairs >= 2).any():
        return []
    return [family_sentence(paired), INTERVALS_SENTENCE]


INTERVALS_SENTENCE = (
    "The interval over seeds answers \"how far would the difference move with other seeds, on "
    "these test images?\"; the interval over seeds and test images (a two-level bootstrap) answers "
    "\"... and on other images of the same kind?\"; P(A > B) is the share of (seed of A, seed of B) "
    "pairs in which A scored higher.")


def depth_sentences(seeds: pd.DataFrame, recipe: str) -> list[str]:
    """Each block type's mean accuracy across depths (descriptive: no test across depths)."""
    out = []
    g = seeds[seeds.recipe == recipe]
    depths = sorted(g.n_blocks.unique())
    if len(depths) < 2:
        return out
    lo, hi = depths[0], depths[-1]
    for bt in block_order(g.block_type):
        s = g[g.block_type == bt].set_index("n_blocks")["mean"]
        best = s.idxmax()
        change = s[hi] - s[lo]
        out.append(f"{MODEL_NAMES[bt]} ({recipe}), mean test accuracy: {_pct(s[lo])} at {lo} "
                   f"blocks, {_pct(s[hi])} at {hi} blocks (a change of {change:+.1f} points), "
                   f"highest {_pct(s[best])} at {best} blocks; means only, no test across depths.")
    deep = g[g.n_blocks == hi].sort_values("mean", ascending=False)
    if len(deep) > 1:
        out.append(f"At the deepest setting ({hi} blocks) the highest mean is {deep.iloc[0].model}'s "
                   f"{_pct(deep.iloc[0]['mean'])}, the lowest {deep.iloc[-1].model}'s "
                   f"{_pct(deep.iloc[-1]['mean'])}; the verdicts of that group say which "
                   f"differences the seeds support.")
    return out


def recipe_sentences(seeds: pd.DataFrame, n_blocks: int) -> list[str]:
    """The order of the block types' means under each recipe (descriptive)."""
    g = seeds[seeds.n_blocks == n_blocks]
    recipes = list(dict.fromkeys(g.recipe))
    if len(recipes) < 2:
        return []
    orders = {r: list(g[g.recipe == r].sort_values("mean", ascending=False).model) for r in recipes}
    out = [f"With the {r} recipe ({n_blocks} blocks) the means, highest first: "
           f"{', '.join(orders[r])} (highest {_pct(g[g.recipe == r]['mean'].max())})."
           for r in recipes]
    same = all(orders[r] == orders[recipes[0]] for r in recipes[1:])
    out.append(f"The order of the means is {'the same' if same else 'not the same'} under the "
               f"recipes ({', '.join(recipes)}); which differences hold is what each group's "
               f"verdicts say.")
    return out


# --------------------------------------------------------------------------- report sections

_INTRO = ("<p>What a residual connection buys: {{ n_runs }} training runs of the notebook's "
          "<code>DeepNet</code> on {{ label }}{{ used }}, over block types {{ study.block_types|join(', ') }}, "
          "n_blocks {{ study.n_blocks|join(', ') }}, seeds {{ seeds }} and recipes "
          "{{ study.recipes|join(', ') }}.</p>")


SYNTHETIC_WARNING = ("SYNTHETIC DATA: these numbers come from synthetic (random) images, not "
                     "from CIFAR-10 (the archive was written by cifar_nets.data.synthetic, or "
                     "data.synthetic is true). They show that the pipeline runs; they mean "
                     "nothing.")
# The mark of a synthetic summary CSV: its first column (so the header, its first line, says it)
SYNTHETIC_COLUMN = "SYNTHETIC DATA (numbers mean nothing)"
SYNTHETIC_CELL = "synthetic"


def data_warning(data: dict, synthetic: bool = False) -> str | None:
    """The line the report, the summary tables and the figures open with when the data are
    synthetic (`synthetic`: the archive says so, read from the cache; or config `data.synthetic`
    is true, which can add the mark, never remove it), else None."""
    return SYNTHETIC_WARNING if synthetic or data.get("synthetic") else None


def images_used_text(data: dict) -> str:
    """'' for the whole archive, else e.g. ' (3000 of its 50000 training and 1000 of its 10000
    test images: data.use_train_images, data.use_test_images)'."""
    parts = [f"{data[f'use_{p}_images']} of its {data[f'{p}_images']} {word} images"
             for p, word in (("train", "training"), ("test", "test"))
             if data.get(f"use_{p}_images", "all") != "all"]
    if not parts:
        return ""
    return f" ({' and '.join(parts)}: data.use_train_images, data.use_test_images)"


def report_title(data_label: str, dataset_label: str | None = None) -> str:
    """'<dataset> ablation study (<data label>)'; the dataset by default the default one, CIFAR-10."""
    from cifar_nets.data.dataset import get_dataset  # noqa: PLC0415
    return f"{dataset_label or get_dataset().label} ablation study ({data_label})"


def report_intro(n_runs: int, data_label: str, study: dict, data: dict | None = None):
    """The report's opening paragraph (HTML, every value in it escaped). `data`, the config's
    data section, adds which part of the archive was used."""
    seeds = study["seeds"]
    seeds_text = (", ".join(map(str, seeds)) if isinstance(seeds, list) else
                  f"chosen per group by Stein's two-stage rule so that the widest 95% interval of a "
                  f"paired difference is within ±{seeds['target_halfwidth']:g} points ({seeds['min']} "
                  f"to {seeds['max']} seeds)")
    return render_html(_INTRO, n_runs=n_runs, label=data_label, study=study, seeds=seeds_text,
                       used=images_used_text(data or {}))


def notebook_comparison(runs: pd.DataFrame) -> pd.DataFrame:
    """The default-depth notebook-recipe runs next to the notebook's reported numbers."""
    g = runs[(runs.recipe == "notebook") & (runs.n_blocks == NOTEBOOK_N_BLOCKS)]
    if g.empty:
        return pd.DataFrame()
    agg = g.groupby("block_type", sort=False)["test_acc"].agg(["mean", "count"]).reset_index()
    agg["model"] = agg.block_type.map(MODEL_NAMES)
    agg["notebook_test_acc"] = agg.block_type.map(NOTEBOOK_TEST_ACC)
    agg["difference"] = agg["mean"] - agg["notebook_test_acc"]
    agg = agg.rename(columns={"mean": "test_acc (this run)", "count": "seeds"})
    return _sort(agg)[["model", "seeds", "test_acc (this run)", "notebook_test_acc", "difference"]]


def confusion_sentence(pair_counts: dict, recipe: str, n_blocks: int) -> str:
    """Which class pair each model confuses most, e.g. 'cat / dog' for every model."""
    tops = {}
    for bt in block_order(k[2] for k in pair_counts if tuple(k[:2]) == (recipe, n_blocks)):
        counts = pair_counts.get((recipe, n_blocks, bt))
        if counts is not None and len(counts):
            (a, b), n = counts.idxmax(), int(counts.max())
            tops[bt] = (f"{a} / {b}", n)
    if not tops:
        return ""
    names = {p for p, _ in tops.values()}
    detail = ", ".join(f"{MODEL_NAMES[bt]} {n}" for bt, (_, n) in tops.items())
    if len(names) == 1:
        return (f"The most confused class pair is {names.pop()} for every model "
                f"(images taken for each other: {detail}).")
    return "Most confused class pairs: " + ", ".join(
        f"{MODEL_NAMES[bt]} {p} ({n})" for bt, (p, n) in tops.items()) + "."
