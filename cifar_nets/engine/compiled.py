"""torch.compile with a fallback: :class:`CompiledStep` runs a training step compiled, and
eagerly from the first step on where compiling fails (a node without a working compiler trains,
it does not fail). The first compiled step is the hook's event `compile_first_step`
(cifar_nets.engine.hooks), where the fault tests force the fallback (compile_fail)."""
from __future__ import annotations

from typing import Callable

import torch

from cifar_nets.engine import hooks


class CompiledStep:
    """A training step through torch.compile that falls back to eager if compiling fails.

    torch.compile compiles lazily, at the first forward and backward, so a missing compiler or a
    Triton problem surfaces there. The first compiled step snapshots the RNG states and the
    model's state; if it raises, they are restored, the reason is logged once, and the step and
    every later one run eagerly: a node without a working compiler trains, it does not fail.
    """

    def __init__(self, model: torch.nn.Module, enabled: bool, log: Callable[[str], None]):
        self.model, self.log = model, log
        self.enabled = enabled
        self.fallback: str | None = None
        self.compiled = torch.compile(model) if enabled else None
        self._tried = False

    def __call__(self, forward_backward):
        if self.compiled is None:
            return forward_backward(self.model)
        if self._tried:
            return forward_backward(self.compiled)
        saved = {"cpu_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
                 "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()}}
        try:
            hooks.emit("compile_first_step")
            result = forward_backward(self.compiled)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any compile failure: train eagerly instead
            self.fallback = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            self.log(f"torch.compile failed ({self.fallback}); training eagerly instead")
            torch.set_rng_state(saved["cpu_rng"])
            if saved["cuda_rng"] is not None:
                torch.cuda.set_rng_state_all(saved["cuda_rng"])
            self.model.load_state_dict(saved["model"])
            self.compiled = None
            result = forward_backward(self.model)
        self._tried = True
        return result

    def record(self):
        """What train.json says: true, false, or 'false (fallback: <reason>)'."""
        if self.fallback is not None:
            return f"false (fallback: {self.fallback})"
        return self.enabled
