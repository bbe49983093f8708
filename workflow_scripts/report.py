"""The self-contained HTML report: every table and figure, the config, versions and hardware."""
from cifar_nets.logs import log_to

log = log_to(snakemake.log[0])  # noqa: F821
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from cifar_nets.report import build_report  # noqa: E402
from cifar_nets.study import data_warning, report_intro, report_sections, report_title  # noqa: E402
from cifar_nets.sysinfo import environment_info  # noqa: E402

inp, study = snakemake.input, snakemake.params.study
tables = {name: pd.read_csv(getattr(inp, name), keep_default_na=False if name == "environments" else True)
          for name in ("runs", "seeds", "paired", "environments", "stopping")}
figures = {"samples": inp.samples}
for path in inp.overview:
    figures[{"test_accuracy_by_model": "by_model", "accuracy_vs_depth": "depth",
             "accuracy_vs_parameters": "params"}[Path(path).stem]] = path
for path, entry in zip(inp.groups, snakemake.params.groups):
    grp = figures.setdefault(("group", entry["recipe"], entry["n_blocks"]), {"confusion": {}, "pairs": {}})
    if entry["kind"] == "curves":
        grp["curves"] = path
    else:
        grp[entry["kind"]][entry["block_type"]] = path

pairs = {}
for path, run in zip(inp.pairs, snakemake.params.runs):
    key = (run["recipe"], run["n_blocks"], run["block_type"])
    df = pd.read_csv(path).set_index(["class_a", "class_b"])["count"]
    pairs[key] = df if key not in pairs else pairs[key] + df

label, data = snakemake.params.data_label, snakemake.params.config["data"]
sections = report_sections(tables, figures, label, pairs)
build_report(snakemake.output[0], title=report_title(label),
             intro=report_intro(len(tables["runs"]), label, study, data), sections=sections,
             config=dict(snakemake.params.config), environment=environment_info(),
             warning=data_warning(data))
log(f"wrote {snakemake.output[0]}")
