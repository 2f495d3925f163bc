"""Write-the-function exercises: the student's function (or class) run on generated cases and
compared with the package's own, the feedback naming the first case that differs.

Where the student's code runs: ``record`` calls the answer on every case and keeps what it gave
(numbers, or the error a case raised) as ``Recorded``, plain data. In a notebook the check
records the answer itself, in the student's kernel; when a class is graded the kernel records
it and only the data travel to the grader (``grading.answers``), which compares them with the
package's results here and never runs the student's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from practical3.models.blocks import DoubleConv
from practical3.scoring.metrics import confusion_counts, dice_from_counts, iou_from_counts
from practical3.training.losses import DiceLoss

Verdict = tuple[bool, str]


@dataclass(frozen=True)
class Case:
    """One generated input: what it is (for the feedback), its arguments, and what a mismatch
    there usually means."""

    name: str
    args: tuple[Any, ...]
    hint: str = ""


@dataclass(frozen=True)
class Failed:
    """A case on which the student's code raised, or gave something that is not numbers."""

    error: str


@dataclass(frozen=True)
class Recorded:
    """What an answer gave on every case of its exercise, in order: numbers or ``Failed``."""

    results: tuple[np.ndarray | Failed, ...]


@dataclass(frozen=True)
class Task:
    """A write-the-function exercise: its cases, how an answer runs on one, and the package's
    result on it."""

    cases: Callable[[], list[Case]]
    run: Callable[[Any, Case], Any]
    reference: Callable[[Case], Any]
    rtol: float = 1e-4
    atol: float = 1e-6


def _numbers(value: Any) -> np.ndarray:
    """A result as a float64 array (a tensor, a tuple of numbers, a number); TypeError if not."""
    if value is None or isinstance(value, str):
        raise TypeError(f"returned {value!r}, not numbers")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    if isinstance(value, list | tuple):
        value = [_numbers(v) for v in value]
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"returned {type(value).__name__}, not numbers") from err
    return array


def _show(result: np.ndarray | Failed) -> str:
    """A result in a few words: the failure ("raised ...", "returned ...") or "gave" values."""
    if isinstance(result, Failed):
        return result.error
    if result.size > 6:
        return f"gave an array of shape {result.shape}"
    return f"gave {np.round(result, 5).tolist()}"


def record(task: Task, answer: Any) -> Recorded:
    """Run ``answer`` on every case of ``task``: its results, or why a case failed."""
    results: list[np.ndarray | Failed] = []
    for case in task.cases():
        try:
            value = task.run(answer, case)
        except Exception as err:  # the student's code: any error is that case's result
            results.append(Failed(f"raised {type(err).__name__}: {err}"[:300]))
            continue
        try:
            results.append(_numbers(value))
        except TypeError as err:
            results.append(Failed(str(err)[:300]))
    return Recorded(tuple(results))


def judge_function(task: Task, answer: Any) -> Verdict:
    """Compare an answer (a function, a class, or what ``record`` kept of one) with the
    package on every case; the first case that differs is named."""
    recorded = answer if isinstance(answer, Recorded) else record(task, answer)
    cases = task.cases()
    if len(recorded.results) != len(cases):
        return False, f"{len(recorded.results)} results for {len(cases)} cases: run it again."
    for number, (case, got) in enumerate(zip(cases, recorded.results, strict=True), start=1):
        expected = _numbers(task.reference(case))
        same = not isinstance(got, Failed) and got.shape == expected.shape and np.allclose(
            got, expected, rtol=task.rtol, atol=task.atol, equal_nan=True)
        if not same:
            return False, (f"case {number} of {len(cases)} ({case.name}): yours "
                           f"{_show(got)}, the package's {_show(expected)}. "
                           f"{case.hint}".strip())
    return True, f"all {len(cases)} cases agree with the package's own."


def _masks(rng: np.random.Generator, shape: tuple[int, int], share: float) -> np.ndarray:
    return rng.random(shape) < share


# 1.5: the four counts of one prediction.

def _count_cases() -> list[Case]:
    rng = np.random.default_rng(15)
    empty, full = np.zeros((6, 6), bool), np.ones((6, 6), bool)
    return [
        Case("random 8x8 masks", (_masks(rng, (8, 8), 0.4), _masks(rng, (8, 8), 0.5))),
        Case("a 5x9 image", (_masks(rng, (5, 9), 0.3), _masks(rng, (5, 9), 0.3)),
             "Count over every pixel, whatever the image's shape."),
        Case("prediction and truth both empty", (empty, empty),
             "Every pixel is a true negative."),
        Case("everything predicted, nothing true", (full, empty),
             "A predicted pixel outside the truth is a false positive."),
        Case("nothing predicted, everything true", (empty, full),
             "A true pixel the prediction misses is a false negative."),
    ]


def _package_counts(case: Case) -> list[int]:
    pred, truth = (torch.from_numpy(a)[None, None] for a in case.args)
    return confusion_counts(pred, truth)[0, 0].tolist()


COUNTS = Task(_count_cases, lambda answer, case: answer(*case.args), _package_counts)


# 2.5: DoubleConv, written out.

def _double_conv_cases() -> list[Case]:
    rng = torch.Generator().manual_seed(25)
    order = "Create the layers in the order they run: conv, BatchNorm, ReLU, twice."
    return [
        Case("DoubleConv(1, 4) on a 2x1x8x8 batch, train mode",
             (1, 4, torch.randn(2, 1, 8, 8, generator=rng), True), order),
        Case("DoubleConv(1, 4) on the same batch, eval mode",
             (1, 4, torch.randn(2, 1, 8, 8, generator=rng), False),
             "In eval mode BatchNorm uses its running statistics."),
        Case("DoubleConv(3, 8) on a 2x3x5x7 batch, train mode",
             (3, 8, torch.randn(2, 3, 5, 7, generator=rng), True),
             "padding=1 keeps every size, odd ones too."),
    ]


def _shared_state(module: torch.nn.Module, in_channels: int, out_channels: int) -> None:
    """Load seeded values into ``module``'s parameters and buffers, in registration order, the
    same for every module built like ``DoubleConv(in_channels, out_channels)``; ValueError when
    its tensors differ from DoubleConv's."""
    reference = DoubleConv(in_channels, out_channels).state_dict()
    mine = module.state_dict()
    shapes = [tuple(t.shape) for t in reference.values()]
    if [tuple(t.shape) for t in mine.values()] != shapes:
        theirs = [tuple(t.shape) for t in mine.values() if t.dtype.is_floating_point]
        ours = [tuple(t.shape) for t in reference.values() if t.dtype.is_floating_point]
        raise ValueError(f"its weights and statistics have shapes {theirs}; DoubleConv's are "
                         f"{ours} (convs without bias, a BatchNorm after each)")
    rng = torch.Generator().manual_seed(in_channels * 100 + out_channels)
    values = {}
    for (name, tensor), key in zip(reference.items(), mine, strict=True):
        if name.endswith("running_var"):
            values[key] = torch.rand(tensor.shape, generator=rng) + 0.5
        elif tensor.dtype.is_floating_point:
            values[key] = torch.randn(tensor.shape, generator=rng) * 0.5
        else:
            values[key] = tensor
    module.load_state_dict(values)


def _run_module(cls: Any, case: Case) -> torch.Tensor:
    in_channels, out_channels, x, train = case.args
    module = cls(in_channels, out_channels)
    _shared_state(module, in_channels, out_channels)
    module.train(train)
    with torch.no_grad():
        return module(x.clone())


DOUBLE_CONV = Task(_double_conv_cases, _run_module, lambda case: _run_module(DoubleConv, case),
                   rtol=1e-4, atol=1e-5)


# 3.5: the soft Dice loss pooled over the batch.

def _dice_loss_cases() -> list[Case]:
    rng = torch.Generator().manual_seed(35)

    def pair(n: int, empty: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
        target = (torch.rand(n, 2, 8, 8, generator=rng) < 0.4).float()
        target[:, list(empty)] = 0
        return torch.randn(n, 2, 8, 8, generator=rng) * 2, target

    pooled = "Sum over the whole batch and every pixel (dims 0, 2, 3), per target, then divide."
    return [
        Case("a batch of 3, both targets present", pair(3), pooled),
        Case("one image", pair(1), "eps = 1e-5, added above and below."),
        Case("the infection empty in every image of the batch", pair(4, (1,)),
             "A target whose truth is empty in the whole batch is left out of the mean."),
        Case("both targets empty in the whole batch", pair(2, (0, 1)),
             "With no target present the loss is 0."),
    ]


DICE_LOSS = Task(_dice_loss_cases, lambda answer, case: answer(*case.args),
                 lambda case: DiceLoss()(*case.args))


# 4.5: Dice and IoU from the counts.

def _dice_iou_cases() -> list[Case]:
    return [
        Case("TP 8, FP 4, FN 4 (the toy mask)", (8, 4, 4)),
        Case("TP 0, FP 5, FN 7: a total miss", (0, 5, 7)),
        Case("TP 10, FP 0, FN 0: perfect", (10, 0, 0)),
        Case("TP 0, FP 0, FN 0: truth and prediction both empty", (0, 0, 0),
             "Both empty is 0/0: undefined, return nan for both (float('nan'))."),
        Case("TP 0, FP 2, FN 0: a speck on a healthy image", (0, 2, 0),
             "Any predicted pixel on an empty truth scores 0."),
        Case("TP 123456, FP 789, FN 1011: a lung at native size", (123456, 789, 1011)),
    ]


def _package_dice_iou(case: Case) -> list[float]:
    counts = torch.tensor([[[*case.args, 0]]])
    return [dice_from_counts(counts).item(), iou_from_counts(counts).item()]


DICE_IOU = Task(_dice_iou_cases, lambda answer, case: answer(*case.args), _package_dice_iou)

TASKS: dict[str, Task] = {"1.5": COUNTS, "2.5": DOUBLE_CONV, "3.5": DICE_LOSS, "4.5": DICE_IOU}


def record_answer(key: str, answer: Any) -> Any:
    """The answer to exercise ``key`` as data: a write-the-function answer recorded on its cases
    (this runs the student's code: call it in their kernel only), any other answer as it is."""
    if key in TASKS and answer is not None and not isinstance(answer, Recorded):
        return record(TASKS[key], answer)
    return answer
