"""Segmentation losses on logits (N, C, H, W) against {0, 1} targets of the same shape.

Each target channel (``layout.TARGETS``) is an independent binary problem. Every loss turns
autocast off and computes in float32, so bf16 logits from a mixed-precision forward are safe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _as_float32(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both tensors in float32, after checking that their shapes match."""
    if logits.shape != target.shape:
        raise ValueError(
            f"loss needs logits and target of the same shape (N, C, H, W), got "
            f"{tuple(logits.shape)} and {tuple(target.shape)}: the model's out_channels must "
            f"equal the number of target masks"
        )
    return logits.float(), target.float()


class _Float32Loss(nn.Module):
    """Base: the subclass's ``loss`` runs in float32 with autocast disabled."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return self.loss(*_as_float32(logits, target))

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class BCELoss(_Float32Loss):
    """Binary cross-entropy with logits, averaged over every pixel and channel (the baseline)."""

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, target)


class DiceLoss(_Float32Loss):
    """Soft Dice 1 - (2 sum(p g) + eps) / (sum p + sum g + eps), per image and channel, averaged.

    ``eps`` (default 1) keeps an empty mask defined: an empty prediction on it costs 0 instead
    of 0/0, and any predicted probability mass there costs mass / (mass + eps), so Dice pushes
    healthy images towards all-zero. On masks of hundreds of pixels eps barely moves the value.
    """

    def __init__(self, eps: float = 1.0) -> None:
        super().__init__()
        self.eps = eps

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prob = torch.sigmoid(logits)
        intersection = (prob * target).sum(dim=(2, 3))
        total = prob.sum(dim=(2, 3)) + target.sum(dim=(2, 3))
        return (1 - (2 * intersection + self.eps) / (total + self.eps)).mean()


class BCEDiceLoss(_Float32Loss):
    """BCE plus soft Dice: per-pixel calibration from BCE, overlap (and class balance) from Dice."""

    def __init__(self, eps: float = 1.0) -> None:
        super().__init__()
        self.bce = BCELoss()
        self.dice = DiceLoss(eps)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.bce.loss(logits, target) + self.dice.loss(logits, target)


class FocalLoss(_Float32Loss):
    """Binary focal loss (Lin et al. 2017), mean over pixels: -a_t (1 - p_t)^gamma log(p_t).

    ``alpha`` weighs the positive pixels (1 - alpha the negatives); ``gamma`` down-weights
    pixels that are already well classified.
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")  # -log(p_t)
        p_t = torch.exp(-bce)
        alpha_t = self.alpha * target + (1 - self.alpha) * (1 - target)
        return (alpha_t * (1 - p_t) ** self.gamma * bce).mean()


LOSSES: dict[str, type[_Float32Loss]] = {
    "bce": BCELoss,
    "dice": DiceLoss,
    "bce_dice": BCEDiceLoss,
    "focal": FocalLoss,
}


def build_loss(name: str) -> nn.Module:
    """The loss called ``name`` in a run config (``TrainConfig.loss``), with default settings."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}")
    return LOSSES[name]()
