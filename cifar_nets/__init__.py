"""cifar_nets: the CIFAR-10 ablation study as a plain Python library.

Models, data, training, evaluation, statistics, plots and the report. Nothing here imports
Snakemake: the workflow's scripts are thin adapters around these functions.
"""

__version__ = "0.1.0"

CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
