"""cifar_nets: the CIFAR-10 ablation study as a plain Python library.

Models, data, training, evaluation, statistics, plots and the report. Nothing here imports
Snakemake: the workflow's scripts are thin adapters around these functions.
"""

__version__ = "0.1.0"

# The study's block types, in report order, and the notebook's names of their networks: the one
# list every module, the config schema and the CLI take them from.
BLOCK_TYPES = ("conv", "res", "skip")
MODEL_NAMES = {"conv": "Custom_ConvNet", "res": "Custom_ResNet", "skip": "Custom_SkipNet"}

CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
