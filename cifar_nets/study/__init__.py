"""The study: statistics over seeds, the verdicts, the seed-round rule, the tuning stage and the
summary tables. Torch-free; reads the runs' files, never the engine.
"""
from cifar_nets._moved import forward as _forward

__getattr__ = _forward(__name__, "cifar_nets.study.summary")   # cifar_nets.study.X: X of summary, one release
