"""Fault injection for the test suite (tests/test_faults.py): inert unless asked for.

Set the environment variable CIFAR_ABLATION_FAULT to `ACTION[:EPOCH][@MATCH]` and the training
or evaluation process misbehaves at one named point, deterministically:

    kill_in_epoch:K              SIGKILL itself in the middle of epoch K (after its first step)
    kill_after_epoch:K           SIGKILL itself right after epoch K's checkpoint is written
    kill_in_checkpoint_write:K   write epoch K's checkpoint temp file, cut it to half its size
                                 (a write cut off midway), then SIGKILL itself before the rename
    stop_after_epoch:K           SIGSTOP itself after epoch K's checkpoint (the test then kills
                                 the whole workflow, Snakemake included: a power cut)
    kill_in_evaluate             SIGKILL itself during test-set evaluation, before any output
    nan_loss:K, inf_loss:K       NaN / +inf is added to the loss of every step of epoch K
                                 (what a diverged run reports; the gradients are unchanged)
    compile_fail                 the first compiled training step raises, as on a node without
                                 a working compiler (cifar_nets.engine.compiled falls back)

`@MATCH` limits the fault to the run whose checkpoint or weights path contains MATCH (e.g.
`@/res/`), so one job of a workflow misbehaves and the others do not.

The engine knows nothing of this module: it emits named events through its one hook
(cifar_nets.engine.hooks), and :func:`on_event` is that hook in a process started with the
variable set (hooks installs it at import); a test sets the variable in its own process and
installs :func:`on_event` itself (tests/workflow_helpers.py: `inject_fault`).
"""
from __future__ import annotations

import os
import signal

ENV = "CIFAR_ABLATION_FAULT"


def asked_for() -> bool:
    """Whether CIFAR_ABLATION_FAULT is set (to anything) in this process."""
    return bool(os.environ.get(ENV))


def fault(action: str, epoch: int | None = None, where: object = "") -> bool:
    """Whether CIFAR_ABLATION_FAULT asks for `action` at this epoch in this run."""
    spec = os.environ.get(ENV)
    if not spec:
        return False
    spec, _, match = spec.partition("@")
    name, _, at = spec.partition(":")
    if name != action or (match and match not in str(where)):
        return False
    return not at or (epoch is not None and int(at) == int(epoch))


def kill(stop: bool = False, truncate: os.PathLike | str | None = None) -> None:
    """SIGKILL (or, with `stop`, SIGSTOP) this process, after cutting the file `truncate` (if
    given) to half its size."""
    if truncate is not None:
        size = os.path.getsize(truncate)
        with open(truncate, "rb+") as f:
            f.truncate(size // 2)
            f.flush()
            os.fsync(f.fileno())
    os.kill(os.getpid(), signal.SIGSTOP if stop else signal.SIGKILL)


def on_event(event: str, value=None, *, epoch: int | None = None, where: object = "", **facts):
    """The engine's hook (cifar_nets.engine.hooks) that does what CIFAR_ABLATION_FAULT asks."""
    if event == "step_end":
        if fault("kill_in_epoch", epoch, where):
            kill()
        for action, bad in (("nan_loss", float("nan")), ("inf_loss", float("inf"))):
            if fault(action, epoch, where):
                return value + bad
    elif event == "epoch_end":
        if fault("kill_after_epoch", epoch, where):
            kill()
        if fault("stop_after_epoch", epoch, where):
            kill(stop=True)
    elif event == "checkpoint_temp_written":
        if fault("kill_in_checkpoint_write", epoch, where):
            kill(truncate=facts["temp"])
    elif event == "compile_first_step":
        if fault("compile_fail"):
            raise RuntimeError(f"forced compile failure ({ENV}=compile_fail)")
    elif event == "test_predicted":
        if fault("kill_in_evaluate", where=where):
            kill()
    return value
