# cifar-ablation: what a residual connection buys, as a reproducible CIFAR-10 ablation study.
#
#   snakemake --cores 4 --resources gpu=1        the study in config.yaml, up to the report
#   snakemake results/report.html                just the report (and what it needs), on every
#                                                usable core when --cores is not given
#   snakemake --profile profiles/slurm           every training/evaluation job on SLURM
from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


report: "report/workflow.rst"


include: "rules/setup.smk"
include: "rules/common.smk"
include: "rules/resources.smk"
include: "rules/tune_common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/tune.smk"
include: "rules/evaluate.smk"
include: "rules/seeds.smk"
include: "rules/summary.smk"
include: "rules/figures.smk"
include: "rules/report.smk"


localrules:
    all,
    download_cifar10,
    summarize,
    figure_samples,
    figures_group,
    figures_overview,
    report,
    seed_round,
    tune_choice,
    figure_tuning,


rule all:
    input:
        get_final_output(),
