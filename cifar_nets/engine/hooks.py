"""The engine's one hook: named events a test can act on, a no-op in every normal run.

The engine calls :func:`emit` at five points, and nowhere else:

    step_end                 after each training step (value: the step's loss; epoch, step, where)
    epoch_end                after an epoch's checkpoint and history row (epoch, where)
    checkpoint_temp_written  a checkpoint's temporary file is written, not yet renamed
                             (epoch, where: the checkpoint's path, temp: the temporary file)
    compile_first_step       just before the first compiled training step runs
    test_predicted           evaluation has the test set's logits, no output is written yet
                             (where: the weights file)

`where` names the run (its checkpoint or weights path, else its label). :func:`emit` returns
`value`, or what the hook returns in its place (the fault hook poisons a loss that way). The hook
is :func:`ignore` unless one is installed (:func:`install`): cifar_nets.engine.faults in a
process started with CIFAR_ABLATION_FAULT set (the fault tests' Snakemake jobs), or whatever a
test installs in its own process.
"""
from __future__ import annotations

from typing import Callable

from cifar_nets.engine import faults


def ignore(event: str, value=None, **facts):
    """The hook of every normal run: does nothing, changes nothing."""
    return value


hook: Callable = ignore


def emit(event: str, value=None, **facts):
    """Tell the hook that `event` happened (with `facts`); `value`, or the hook's replacement."""
    return hook(event, value, **facts)


def install(fn: Callable | None) -> None:
    """Make `fn(event, value, **facts)` the hook (None: :func:`ignore` again)."""
    global hook
    hook = ignore if fn is None else fn


# The one place the engine names its test machinery: a process started with CIFAR_ABLATION_FAULT
# set (a job of the fault tests' Snakemake) runs with the fault hook.
if faults.asked_for():
    install(faults.on_event)
