"""``practical3 grade SUBMISSIONS --out DIR``: grade a class's notebooks, exercise by exercise.

SUBMISSIONS holds one folder per student (its name is the student's id) with any of the four
notebooks, loose or in a ``.zip``. The grader first runs the course's own notebooks once, at
the grading profile on the synthetic twin, and keeps the context every check compares an
answer with (``execute --context``). Then each student's notebooks run in a scratch copy of
that course (the students' release, with the grader's trained run and data in it), one by one,
as untrusted code (``sandbox``), and each answer is carried out of the kernel as data
(``answers``) and judged by the course's check in a process of its own (``judge``). What a
notebook printed counts for nothing. Writes ``DIR/gradebook.csv`` and
``DIR/<student>/feedback.md``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import nbformat

from practical3.base.atomic import write_text
from practical3.base.errors import ConfigError, OutputError
from practical3.base.paths import HOME_ENV, PROFILE_ENV, project_root, writable_folder
from practical3.course.exercises import EXERCISES
from practical3.course.points import POINTS
from practical3.grading import answers, execute, sandbox
from practical3.grading.judge import judge
from practical3.grading.release import release

# The profile the class is graded at: the one a student without a GPU or real data runs
# (training.profiles.AUTO), so the grader's own run gives the contexts their notebooks saw.
GRADING_PROFILE = "demo"
GRADEBOOK, FEEDBACK = "gradebook.csv", "feedback.md"
STATUSES = ("right", "wrong", "missing", "error", "timeout", "invalid")
MAX_ZIP_BYTES = 50 * 2**20
# The grader's own run of a notebook (trusted; notebook 03 trains the profile's run) gets this
# long, whatever the students' limit.
OWN_RUN_TIMEOUT_S = 3600.0
NUMBER = re.compile(r"^(\d\d)")


@dataclass(frozen=True)
class Mark:
    """One row of the gradebook, with the message the student reads in their feedback."""

    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    status: str
    message: str = ""


def notebook_of(key: str) -> str:
    """The number of the notebook exercise ``key`` belongs to ("2.3" -> "02")."""
    return f"{int(key.split('.')[0]):02d}"


def submitted(folder: Path, scratch: Path) -> dict[str, Path]:
    """A student's notebooks by number ("01".."04"), loose or extracted from a ``.zip`` into
    ``scratch``; a loose file wins over a zipped one of the same number."""
    found: dict[str, Path] = {}
    for archive in sorted(folder.glob("*.zip")):
        found.update(_unzip(archive, scratch))
    for path in sorted(folder.glob("*.ipynb")):
        match = NUMBER.match(path.name)
        if match:
            found[match.group(1)] = path
    return found


def _unzip(archive: Path, scratch: Path) -> dict[str, Path]:
    """The numbered notebooks of ``archive`` (their bare names, at most MAX_ZIP_BYTES)."""
    found: dict[str, Path] = {}
    try:
        with zipfile.ZipFile(archive) as opened:
            for member in opened.infolist():
                name = Path(member.filename).name
                match = NUMBER.match(name)
                if match and name.endswith(".ipynb") and member.file_size <= MAX_ZIP_BYTES:
                    target = scratch / "unzipped" / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(opened.read(member))
                    found[match.group(1)] = target
    except (zipfile.BadZipFile, OSError):
        pass  # no notebook read from it: those exercises are missing
    return found


def invalid_reason(path: Path) -> str | None:
    """Why the file at ``path`` is not a notebook, or None when it is one."""
    try:
        nbformat.reads(path.read_text(errors="strict"), as_version=4)
    except Exception as err:  # any reason the notebook cannot be read
        return f"{path.name} is not a valid notebook ({type(err).__name__}: {str(err)[:120]})"
    return None


@dataclass(frozen=True)
class Course:
    """The grader's copy of the course: the students' release with the grader's run of its
    notebooks in it, and the context each check needs."""

    root: Path
    contexts: Path
    profile: str

    def notebook(self, number: str) -> Path:
        return next((self.root / "notebooks").glob(f"{number}*.ipynb"))

    def numbers(self) -> list[str]:
        return sorted(p.name[:2] for p in (self.root / "notebooks").glob("*.ipynb"))


def environment(course_root: Path, home: Path, profile: str) -> dict[str, str]:
    """The only variables a notebook run sees: the course copy first on the path, the profile,
    and every folder a kernel writes inside ``home``."""
    for name in ("tmp", "ipython", "runtime", "mpl"):
        (home / name).mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home),
            "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8",
            "PYTHONPATH": str(course_root), "PYTHONDONTWRITEBYTECODE": "1",
            HOME_ENV: str(course_root), PROFILE_ENV: profile,
            "TMPDIR": str(home / "tmp"), "IPYTHONDIR": str(home / "ipython"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "MPLCONFIGDIR": str(home / "mpl"),
            "MPLBACKEND": "Agg"}


def run_notebook(path: Path, course_root: Path, home: Path, folder: Path, profile: str,
                 limits: sandbox.Limits, uid: int | None = None, context: bool = False,
                 protected: Sequence[Path] = (), writable: Path | None = None
                 ) -> sandbox.Finished:
    """Run the notebook at ``path`` (inside ``course_root``) with keepers writing to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "practical3.grading.execute", str(path), str(folder)]
    env = environment(course_root, home, profile)
    sandbox.hand_over(home.parent, uid)
    return sandbox.run([*command, *(["--context"] if context else [])], path.parent, env,
                       limits, uid, protected, writable)


def prepare(work: Path, numbers: Iterable[str], profile: str, limits: sandbox.Limits) -> Course:
    """The students' release in ``work``, its notebooks ``numbers`` run once by the grader
    (training the profile's run, which the students' copies then reuse) to keep each check's
    context. An error names the notebook whose own run failed."""
    course = Course(release(work / "course" / "course"), work / "contexts", profile)
    for number in sorted(numbers):
        path = course.notebook(number)
        folder = course.contexts / number
        own = sandbox.Limits(OWN_RUN_TIMEOUT_S, limits.memory_bytes, limits.file_bytes)
        finished = run_notebook(path, course.root, work / "course" / "home", folder, profile,
                                own, context=True)
        outcome = _outcome(folder)
        if outcome.get("status") != "completed":
            raise ConfigError(f"the course's own {path.name} did not run at profile {profile} "
                              f"({outcome.get('error') or finished.output[-300:]}); fix it "
                              "before grading")
    return course


def _outcome(folder: Path) -> dict[str, object]:
    path = folder / execute.OUTCOME_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def grade_student(student: str, found: dict[str, Path], course: Course, scratch: Path,
                  limits: sandbox.Limits, uid: int | None,
                  protected: Sequence[Path] = ()) -> list[Mark]:
    """Every exercise of one student: run each submitted notebook in a scratch copy of the
    course (``protected`` folders read-only to it, where the system allows), then judge each
    answer against the grader's context."""
    marks = []
    copy = scratch / "course"
    shutil.copytree(course.root, copy, symlinks=True)
    for number in course.numbers():
        keys = [key for key in EXERCISES if notebook_of(key) == number]
        name = course.notebook(number).name
        if number not in found:
            marks += [_mark(student, name, key, "missing", f"{name} was not submitted")
                      for key in keys]
            continue
        reason = invalid_reason(found[number])
        if reason:
            marks += [_mark(student, name, key, "invalid", reason) for key in keys]
            continue
        target = copy / "notebooks" / name
        shutil.copyfile(found[number], target)
        folder = scratch / "answers" / number
        finished = run_notebook(target, copy, scratch / "home", folder, course.profile,
                                limits, uid, protected=protected, writable=scratch)
        outcome = _outcome(folder)
        for key in keys:
            status, message = _judged(key, folder, course, finished, outcome, limits)
            marks.append(_mark(student, name, key, status, message))
    return marks


def _judged(key: str, folder: Path, course: Course, finished: sandbox.Finished,
            outcome: dict[str, object], limits: sandbox.Limits) -> tuple[str, str]:
    kept = folder / f"{key}.json"
    if kept.is_file():
        answer, problem = answers.read_answer(kept)
        if problem:
            return "error", f"your answer could not be read: {problem}"
        context = answers.read_context(course.contexts / notebook_of(key), key)
        if context is None:
            return "error", "the grader's own run of this notebook never reached this exercise"
        return judge(key, answer, context)
    if finished.timed_out:
        return "timeout", (f"the notebook ran past the time limit ({limits.timeout_s:.0f} s) "
                           "before this answer")
    if outcome.get("status") == "error":
        return "error", (f"the notebook stopped at cell {outcome.get('cell')} before this "
                         f"answer: {outcome.get('error')}")
    if outcome.get("status") != "completed":
        return "error", f"the notebook's run ended early: {finished.output[-300:].strip()}"
    return "missing", f"no answer cell calls check_exercise({key!r}, answer, ...)"


def _mark(student: str, notebook: str, key: str, status: str, message: str) -> Mark:
    worth = POINTS[key]
    return Mark(student, notebook, key, worth if status == "right" else 0, worth, status,
                message)


def students_in(submissions: Path) -> list[tuple[str, Path]]:
    """(student id, folder) for every student folder in ``submissions``, by id."""
    if not submissions.is_dir():
        raise ConfigError(f"{submissions}: no such folder; give the folder holding one folder "
                          "per student")
    return [(p.name, p) for p in sorted(submissions.iterdir())
            if p.is_dir() and not p.name.startswith(".")]


def grade(submissions: str | Path, out: str | Path, profile: str = GRADING_PROFILE,
          limits: sandbox.Limits | None = None, progress: bool = True) -> list[Mark]:
    """Grade every student in ``submissions`` and write the gradebook and feedback into
    ``out``; returns the marks (one per student and exercise).

    Example: ``grade("submissions", "grades", limits=sandbox.Limits(timeout_s=300))`` where
    ``submissions/ada/`` holds ada's ``02_unet_model.ipynb``.
    """
    from tqdm.auto import tqdm

    submissions, out = Path(submissions).absolute(), Path(out).absolute()
    if out.is_relative_to(submissions):
        raise OutputError(f"--out {out}: inside the submissions; give a folder outside them")
    limits = limits or sandbox.Limits()
    writable_folder(out, "--out")
    students = students_in(submissions)
    work = Path(tempfile.mkdtemp(prefix="practical3-grade-"))
    work.chmod(0o711)  # each submission may pass through to its own folder, list none
    try:
        wanted = {n for _, folder in students for n in submitted(folder, work / "probe")}
        print(f"grading {len(students)} students at profile {course_profile(profile)}, "
              f"{limits.timeout_s:.0f} s per notebook; {sandbox.isolation()}", flush=True)
        course = prepare(work, wanted, profile, limits)
        marks: list[Mark] = []
        users = sandbox.separate_users()
        bar = tqdm(students, desc="class", unit="student", disable=not progress)
        for n, (student, folder) in enumerate(bar):
            scratch = work / "students" / f"{n:04d}"
            scratch.mkdir(parents=True)
            found = submitted(folder, scratch)
            uid = sandbox.SANDBOX_UID + n if users else None
            mine = grade_student(student, found, course, scratch, limits, uid,
                                 [project_root(), submissions, out, work])
            write_text(out / student / FEEDBACK, feedback_text(student, mine))
            bar.write(summary(student, mine))
            marks += mine
            shutil.rmtree(scratch, ignore_errors=True)
        write_text(out / GRADEBOOK, gradebook_csv(marks))
        return marks
    finally:
        shutil.rmtree(work, ignore_errors=True)


def course_profile(profile: str) -> str:
    """The profile's name with what it is (for the opening line)."""
    from practical3.training.profiles import profile as named
    from practical3.training.profiles import sizes

    return f"{profile} ({sizes(named(profile))}, on the synthetic twin)"


def totals(marks: list[Mark]) -> tuple[float, float]:
    return sum(m.points for m in marks), sum(m.max_points for m in marks)


def summary(student: str, marks: list[Mark]) -> str:
    """One line: points, and how many exercises had each status."""
    points, most = totals(marks)
    counts = ", ".join(f"{sum(m.status == s for m in marks)} {s}" for s in STATUSES
                       if any(m.status == s for m in marks))
    return f"{student}: {points:g}/{most:g} points ({counts})"


def gradebook_csv(marks: list[Mark]) -> str:
    """The gradebook: a row per student and exercise, then a ``total`` row per student."""
    columns = [f.name for f in fields(Mark) if f.name != "message"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    by_student: dict[str, list[Mark]] = {}
    for mark in marks:
        by_student.setdefault(mark.student, []).append(mark)
    for student, mine in by_student.items():
        writer.writerows(astuple(m)[:len(columns)] for m in mine)
        points, most = totals(mine)
        writer.writerow([student, "", "total", points, most, "graded"])
    return text.getvalue()


def feedback_text(student: str, marks: list[Mark]) -> str:
    """A student's feedback: total, then each exercise's status, points and message."""
    points, most = totals(marks)
    lines = [f"# Feedback for {student}", "", f"**{points:g} of {most:g} points.**", "",
             "| exercise | title | status | points | feedback |", "| --- | --- | --- | --- | --- |"]
    for m in marks:
        message = m.message.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {m.exercise} | {EXERCISES[m.exercise].title} | {m.status} | "
                     f"{m.points:g}/{m.max_points:g} | {message} |")
    return "\n".join(lines) + "\n"
