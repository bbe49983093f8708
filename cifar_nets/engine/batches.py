"""Batches on the device: the images once as a uint8 tensor, batches as normalised slices.

- :class:`DeviceData`: uint8 images and labels on the device; :meth:`DeviceData.batch` and
  :meth:`DeviceData.normalise` give float32 batches (channels-last when asked).
- :func:`draw_augmentation` and :func:`augment_batch`: random crop and flip on whole batches,
  with numbers from the run's seeded CPU generator.
- :func:`autocast`: bf16 autocast or a no-op.
- :func:`predict_logits`, :func:`top1_accuracy`: eval-mode predictions and accuracy, for
  validation during training and for the test set in evaluation.

No per-image Python work: normalising, cropping and flipping are whole-batch tensor ops.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F


class DeviceData:
    """uint8 images on the device; batches come out normalised float32."""

    def __init__(self, x_u8: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                 device: torch.device, mean, std, channels_last: bool = False):
        self.x = torch.as_tensor(x_u8).to(device)
        self.y = torch.as_tensor(y).long().to(device)
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)        # (x/255 - mean)/std == x*scale + shift
        self.shift = -mean_t / std_t
        self.channels_last = channels_last
        self.device = device

    def __len__(self) -> int:
        return self.x.shape[0]

    def normalise(self, xb: torch.Tensor) -> torch.Tensor:
        xb = torch.addcmul(self.shift, xb.float(), self.scale)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normalise(self.x[idx]), self.y[idx]


def draw_augmentation(n: int, batch_size: int, gen: torch.Generator, padding: int,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """One epoch's augmentation random numbers (flip, dy, dx per image, in batch order), drawn
    from the run's CPU generator batch by batch in the order per-step drawing would use, then
    moved to the device in one copy: the same numbers as drawing per step, without a host-device
    copy (a synchronisation on CUDA) in every step."""
    flips, dys, dxs = [], [], []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        flips.append(torch.rand(b, generator=gen) < 0.5)
        if padding:
            dys.append(torch.randint(0, 2 * padding + 1, (b,), generator=gen))
            dxs.append(torch.randint(0, 2 * padding + 1, (b,), generator=gen))
    flip = torch.cat(flips).to(device) if flips else torch.zeros(0, dtype=torch.bool, device=device)
    if not padding:
        return flip, None, None
    return flip, torch.cat(dys).to(device), torch.cat(dxs).to(device)


def augment_batch(xb: torch.Tensor, gen: torch.Generator | None, padding: int,
                  draws: tuple | None = None) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, per image, on whole batches.

    Works on uint8 or float batches. The random numbers are `draws` (this batch's slice of
    :func:`draw_augmentation`) or, without them, drawn here from the CPU generator `gen`; either
    way the result depends on the seed only.
    """
    b, c, h, w = xb.shape
    if draws is None:
        draws = draw_augmentation(b, b, gen, padding, xb.device)
    flip, dy, dx = draws
    xb = torch.where(flip.view(b, 1, 1, 1), xb.flip(3), xb)
    if padding:
        padded = F.pad(xb, (padding,) * 4)
        rows = (torch.arange(h, device=xb.device).view(1, h) + dy.view(b, 1))
        cols = (torch.arange(w, device=xb.device).view(1, w) + dx.view(b, 1))
        bi = torch.arange(b, device=xb.device).view(b, 1, 1, 1)
        ci = torch.arange(c, device=xb.device).view(1, c, 1, 1)
        xb = padded[bi, ci, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]
    return xb


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, data: DeviceData, idx: torch.Tensor | None = None,
                   batch_size: int = 1000, bf16: bool = False) -> torch.Tensor:
    """Logits (float32, on the CPU) for data[idx] (all of it when idx is None), in eval mode."""
    was_training = model.training
    model.eval()
    n = len(data) if idx is None else len(idx)
    out = []
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        xb = data.normalise(data.x[sl] if idx is None else data.x[idx[sl]])
        with autocast(data.device, bf16):
            out.append(model(xb).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 10)


def top1_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Percent of rows of `logits` whose largest entry is the label in `y`."""
    return 100.0 * (logits.argmax(1) == y.cpu()).double().mean().item()


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on `device` when `bf16`, else a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
