"""Grading a class: answers carried as data and judged by the course's checks against the
grader's own context; a class with a raising, a sleeping, an invalid, a forging and an
intruding notebook graded to the end with the right statuses."""

from __future__ import annotations

import csv
import json
import mmap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from practical3.base.paths import project_root
from practical3.course.exercises import EXERCISES
from practical3.course.points import POINTS
from practical3.grading import answers, sandbox
from practical3.grading import judge as judge_module
from practical3.grading.grade import GRADEBOOK, grade, notebook_of
from practical3.grading.judge import judge
from practical3.grading.release import release
from practical3.models import build_model

NB2 = "02_unet_model.ipynb"
NB2_KEYS = [k for k in EXERCISES if notebook_of(k) == "02"]


def test_points_are_one_table_over_every_exercise():
    assert sorted(POINTS) == sorted(EXERCISES) and all(p > 0 for p in POINTS.values())


@pytest.mark.parametrize("value", [3, 0.25, "b", (1, 256, 16, 16), [0.5, 0.9], np.float32(2)])
def test_an_answer_survives_the_trip_out_of_the_kernel(value):
    decoded = answers.decode(json.loads(json.dumps(answers.encode(value))))
    assert decoded == (value.item() if isinstance(value, np.generic) else value)


def test_a_model_travels_as_its_architecture():
    model = answers.decode(answers.encode(build_model("unet", 1, 2, base_channels=8, depth=5)))
    assert model.depth == 5 and model.widths[0] == 8


@pytest.mark.parametrize("data", [{"model": {"name": "unet", "base_channels": 10**6}},
                                  {"__reduce__": "os.system"}, {"array": [["a"]]}])
def test_a_crafted_answer_file_builds_nothing(data):
    with pytest.raises(ValueError):
        answers.decode(data)


def dice_iou(tp: int, fp: int, fn: int) -> tuple[float, float]:
    """A student's answer to 4.5."""
    if tp + fp + fn == 0:
        return float("nan"), float("nan")
    return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


class MyDoubleConv(torch.nn.Sequential):
    """A student's answer to 2.5."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                         torch.nn.BatchNorm2d(cout), torch.nn.ReLU(),
                         torch.nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                         torch.nn.BatchNorm2d(cout), torch.nn.ReLU())


def test_a_written_function_travels_as_what_it_gave_on_the_cases(tmp_path):
    answers.keep("4.5", lambda: dice_iou, tmp_path)
    right, problem = answers.read_answer(tmp_path / "4.5.json")
    assert problem is None and not callable(right)
    assert judge("4.5", right, ()) == ("right", "all 6 cases agree with the package's own.")
    answers.keep("4.5", lambda: lambda tp, fp, fn: (0.0, 0.0) if tp + fp + fn == 0 else
                 dice_iou(tp, fp, fn), tmp_path)  # both empty scored 0: case 4 is wrong
    status, message = judge("4.5", answers.read_answer(tmp_path / "4.5.json")[0], ())
    assert status == "wrong" and message.startswith("case 4 of 6")


@pytest.mark.parametrize("result", [{"value": {"model": {"name": "unet"}}}, {"value": "x"},
                                    {"failed": 3}, {"value": 1, "failed": "x"}])
def test_a_crafted_recorded_function_builds_nothing(result):
    with pytest.raises(ValueError):
        answers.decode({"recorded": [result]})


def test_an_object_of_another_kind_cannot_be_graded():
    with pytest.raises(answers.AnswerKindError):
        answers.encode(object())


def test_the_judge_uses_the_courses_check():
    assert judge("2.4", 32, ())[0] == "right"
    assert judge("2.4", 16, ())[0] == "wrong"
    assert judge("2.4", None, ())[0] == "missing"
    assert judge("4.2", 0.1, ({},))[0] == "error"  # a check that fails on it: error


def test_a_grader_that_already_maps_much_memory_still_judges(monkeypatch):
    """The check's memory limit is a budget above what the grader maps, not an absolute cap: a
    long session that maps more than the budget must still judge right answers right."""
    reserved = mmap.mmap(-1, judge_module.CHECK_MEMORY_BYTES + 2**30)  # address space only
    try:
        assert judge_module.mapped_bytes() > judge_module.CHECK_MEMORY_BYTES
        assert judge("2.3", build_model("unet", 1, 2, base_channels=8, depth=5), ())[0] == "right"
    finally:
        reserved.close()


def test_a_grader_whose_torch_already_ran_in_threads_still_judges(monkeypatch):
    """OpenMP is not fork-safe: a check forked after the grader's own torch ops started their
    thread pool used to wait forever in its first convolution."""
    monkeypatch.setattr(judge_module, "CHECK_TIMEOUT_S", 30.0)
    torch.nn.functional.conv2d(torch.rand(8, 16, 96, 96), torch.rand(16, 16, 3, 3))
    assert judge("2.5", MyDoubleConv, ())[0] == "right"


class _Greedy(torch.nn.Module):
    """A module that asks for 4 GiB as it is built."""

    def __init__(self, *sizes: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2**30))


def test_a_check_past_its_memory_budget_is_an_error(monkeypatch):
    monkeypatch.setattr(judge_module, "CHECK_MEMORY_BYTES", 64 * 2**20)
    huge = np.broadcast_to(np.float32(0.6), (2, 40_000, 40_000))  # a view: no memory yet
    status, message = judge("4.3", 0.5, (huge, np.broadcast_to(np.True_, huge.shape)))
    assert status == "error" and "allocate" in message


def test_a_written_function_past_the_budget_fails_its_case(monkeypatch):
    monkeypatch.setattr(judge_module, "CHECK_MEMORY_BYTES", 64 * 2**20)
    status, message = judge("2.5", _Greedy, ())
    assert status == "wrong" and message.startswith("case 1") and "memory" in message


def cell(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source)


def put(folder: Path, notebook: nbformat.NotebookNode, name: str = NB2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / name)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class graded on notebook 02 at smoke: solved, blank, raising, sleeping, invalid,
    forging and intruding submissions."""
    tmp = tmp_path_factory.mktemp("grade")
    solved = nbformat.read(release(tmp / "sol", solutions=True) / "notebooks" / NB2, 4)
    blank = nbformat.read(release(tmp / "rel") / "notebooks" / NB2, 4)
    out, cls = tmp / "grades", tmp / "class"
    put(cls / "alice", solved)
    put(cls / "bob", blank)
    raising = nbformat.read(tmp / "sol" / "notebooks" / NB2, 4)
    raising.cells.insert(2, cell("raise RuntimeError('boom')"))
    put(cls / "carol", raising)
    put(cls / "dave", nbformat.v4.new_notebook(cells=[cell("import time\nwhile True:\n    "
                                                            "time.sleep(1)")]))
    (cls / "erin").mkdir()
    (cls / "erin" / NB2).write_text("{ this is not a notebook")
    forged = nbformat.read(tmp / "rel" / "notebooks" / NB2, 4)
    for c in forged.cells:
        c.source = c.source.replace("answer = None", "answer = -12345")
    forged.cells.insert(1, cell("import practical3.course.exercises as e\n"
                                "def forged(*args):\n    print('Exercise: right.')\n"
                                "e.check_exercise = forged\ncheck_exercise = forged"))
    put(cls / "frank", forged)
    targets = [project_root() / "pwned-by-mallory", out / "pwned", cls / "alice" / "pwned"]
    tries = "\n".join(f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError:\n    pass"
                      for t in targets)
    put(cls / "mallory", nbformat.v4.new_notebook(cells=[cell(tries)]))
    marks = grade(cls, out, profile="smoke", limits=sandbox.Limits(timeout_s=180),
                  progress=False)
    return out, marks, targets


def statuses(marks, student):
    return {m.exercise: m.status for m in marks if m.student == student and m.notebook == NB2}


def test_the_solutions_get_full_points(graded):
    _, marks, _ = graded
    assert statuses(marks, "alice") == {k: "right" for k in NB2_KEYS}
    assert all(m.points == m.max_points for m in marks if m.student == "alice"
               and m.notebook == NB2)


def test_the_blank_release_gets_nothing_missing(graded):
    _, marks, _ = graded
    assert set(statuses(marks, "bob").values()) == {"missing"}
    assert sum(m.points for m in marks if m.student == "bob") == 0


@pytest.mark.parametrize(("student", "status"), [("carol", "error"), ("dave", "timeout"),
                                                 ("erin", "invalid"), ("frank", "wrong")])
def test_a_bad_notebook_gets_its_status_and_no_points(graded, student, status):
    _, marks, _ = graded
    assert set(statuses(marks, student).values()) == {status}
    assert sum(m.points for m in marks if m.student == student) == 0


def test_the_gradebook_has_a_row_per_exercise_and_a_total(graded):
    out, marks, _ = graded
    rows = list(csv.DictReader((out / GRADEBOOK).open()))
    assert list(rows[0]) == ["student", "notebook", "exercise", "points", "max_points", "status"]
    alice = [r for r in rows if r["student"] == "alice"]
    assert len(alice) == len(EXERCISES) + 1 and alice[-1]["exercise"] == "total"
    assert float(alice[-1]["points"]) == sum(POINTS[k] for k in NB2_KEYS)
    assert "right" in (out / "alice" / "feedback.md").read_text()


@pytest.mark.skipif(not (sandbox.separate_users() or sandbox.read_only_mounts()),
                    reason="neither separate users (root) nor mount namespaces here")
def test_a_notebook_cannot_write_the_teachers_files_the_gradebook_or_a_classmates(graded):
    _, _, targets = graded
    assert [t for t in targets if t.exists()] == []
