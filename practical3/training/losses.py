"""Segmentation losses on logits (N, C, H, W) against {0, 1} targets of the same shape.

Each target channel (``layout.TARGETS``) is an independent binary problem. Every loss turns
autocast off and computes in float32, so bf16 logits from a mixed-precision forward are safe.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from practical3.base.errors import ConfigError
from practical3.base.text import first_paragraph


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

    description: ClassVar[str]  # for the report: the first paragraph of the class's docstring

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.description = first_paragraph(cls.__doc__)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return self.loss(*_as_float32(logits, target))

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class BCELoss(_Float32Loss):
    """Binary cross-entropy with logits, averaged over every pixel and channel.

    The baseline.
    """

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, target)


class DiceLoss(_Float32Loss):
    """Soft Dice pooled over the batch per target, leaving out a target whose truth is empty in
    the whole batch.

    nnU-Net's batch Dice: per target, 1 - (2 sum(p g) + eps) / (sum p + sum g + eps), the sums
    over every image and pixel.

    Healthy images behave: a target whose truth is empty in the whole batch is left out (a
    confident correct prediction there costs nothing; the per-pixel BCE still teaches it), and
    in a mixed batch the probability an empty image gets is counted as false positives of the
    pooled score, so its gradient lowers exactly those pixels. With no target present, 0.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prob = torch.sigmoid(logits)
        dims = (0, 2, 3)
        intersection = (prob * target).sum(dims)
        truth = target.sum(dims)
        dice = (2 * intersection + self.eps) / (prob.sum(dims) + truth + self.eps)
        present = truth > 0
        if not present.any():
            return (prob * 0).sum()  # zero, still attached to the graph
        return (1 - dice[present]).mean()


class ImageDiceLoss(_Float32Loss):
    """Soft Dice per image and target (eps 1), averaged.

    The earlier default, kept to measure what the batch Dice changed.

    On an empty truth it is nearly constant: a uniform logit of -4 (all pixels correctly
    negative once thresholded) costs 0.999 on an empty 256 x 256 mask, with almost no gradient,
    so every healthy image adds a floor that only the BCE term can move.
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
    """BCE plus soft Dice pooled over the batch: per-pixel calibration from BCE, overlap (and
    class balance) from Dice."""

    dice_class: ClassVar[type[_Float32Loss]] = DiceLoss

    def __init__(self) -> None:
        super().__init__()
        self.bce = BCELoss()
        self.dice = self.dice_class()

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.bce.loss(logits, target) + self.dice.loss(logits, target)


class BCEImageDiceLoss(BCEDiceLoss):
    """BCE plus soft Dice per image and target (eps 1): the earlier default.

    See ``ImageDiceLoss``.
    """

    dice_class = ImageDiceLoss


class FocalLoss(_Float32Loss):
    """Binary focal loss (Lin et al. 2017): cross-entropy that down-weights easy pixels.

    The mean over pixels of -a_t (1 - p_t)^gamma log(p_t).
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
    "bce_image_dice": BCEImageDiceLoss,
    "focal": FocalLoss,
}


def build_loss(name: str) -> nn.Module:
    """The loss called ``name`` in a run config (``TrainConfig.loss``), with default settings."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}")
    return LOSSES[name]()
