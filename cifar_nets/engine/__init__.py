"""The training engine: the networks, one run's recipe, the training loop, checkpoints and
evaluation. `run` is the one way to call a training run (a RunSpec and its OutputPaths); `train`
is the loop (train_one_epoch, evaluate, the epoch loop written out); `hooks` is the engine's one
hook, where the fault-injection tests act. Uses cifar_nets.data and cifar_nets.machine; nothing in
the study or the report.
"""
