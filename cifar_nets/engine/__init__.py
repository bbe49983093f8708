"""The training engine: the networks, one run's recipe, the training loop, checkpoints and
evaluation. `run` is the one way to call a training run (a RunSpec and its output paths); `train`
is the loop (train_one_epoch, evaluate, the epoch loop written out); `faults` is the single hook the
fault-injection tests install. Uses cifar_nets.data and cifar_nets.machine; nothing in the study or
the report.
"""
