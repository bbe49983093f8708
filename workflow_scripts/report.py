"""The self-contained HTML report: every table and figure, the config, versions and hardware."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from cifar_nets.report import build_report  # noqa: E402
from cifar_nets.study import report_sections  # noqa: E402
from cifar_nets.sysinfo import environment_info  # noqa: E402

inp, study = snakemake.input, snakemake.params.study
tables = {name: pd.read_csv(getattr(inp, name)) for name in ("runs", "seeds", "paired")}
figures = {"samples": inp.samples}
for path in inp.overview:
    figures[{"test_accuracy_by_model": "by_model", "accuracy_vs_depth": "depth",
             "accuracy_vs_parameters": "params"}[Path(path).stem]] = path
for path in inp.groups:
    p = Path(path)
    recipe, n_blocks = p.parent.parent.name, int(p.parent.name[1:])
    grp = figures.setdefault(("group", recipe, n_blocks), {"confusion": {}, "pairs": {}})
    if p.stem == "accuracy_curves":
        grp["curves"] = path
    else:
        kind, bt = p.stem.rsplit("_", 1)
        grp["confusion" if kind == "confusion" else "pairs"][bt] = path

pairs = {}
for path in inp.pairs:  # results/runs/{recipe}/{block_type}/n{n_blocks}/seed{seed}/confused_pairs.csv
    parts = Path(path).parts
    key = (parts[-5], int(parts[-3][1:]), parts[-4])
    df = pd.read_csv(path).set_index(["class_a", "class_b"])["count"]
    pairs[key] = df if key not in pairs else pairs[key] + df

label = snakemake.params.data_label
sections = report_sections(tables, figures, label, pairs)
intro = (f"<p>What a residual connection buys: {len(tables['runs'])} training runs of the "
         f"notebook's <code>DeepNet</code> on {label}, over block types "
         f"{', '.join(study['block_types'])}, n_blocks {', '.join(map(str, study['n_blocks']))}, "
         f"seeds {', '.join(map(str, study['seeds']))} and recipes "
         f"{', '.join(study['recipes'])}.</p>")
build_report(snakemake.output[0], title=f"CIFAR-10 ablation study ({label})", intro_html=intro,
             sections=sections, config=dict(snakemake.params.config), environment=environment_info())
log(f"wrote {snakemake.output[0]}")
