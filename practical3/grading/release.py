"""``practical3 release OUT``: the students' copy of the course, or with ``--solutions`` the
instructor's.

The release is the checkout's files (tracked and new, as git lists them, none it ignores) in a
new folder without git history. The students' copy leaves out ``course/solutions.py`` and every
file outside the package that imports it (their tests), and blanks every answer cell
(``answer = None``); the instructor's copy keeps them, fills each answer cell with the right
answer, written out from ``course/solutions.py`` so that the cell runs in a students' copy too,
and shows the answers to each notebook's questionnaire below its questions.
Every notebook's setup cell clones the URL the teacher gives (``--repo-url``), never this one.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import nbformat

from practical3.base.atomic import build_folder
from practical3.base.errors import ConfigError, OutputError
from practical3.base.paths import PACKAGE_DIR, project_root
from practical3.grading.cells import ANSWER_LINE, answer_cells

SOLUTIONS_FILE = Path("practical3/course/solutions.py")
SOLUTIONS_IMPORT = re.compile(r"course(\.| import )solutions\b")
SETUP_URL = re.compile(r"^REPO_URL = .*$", re.MULTILINE)
QUESTIONNAIRE = "## Questionnaire"
QUESTION = re.compile(r"^\d+\. ", re.MULTILINE)
# Where a release without --repo-url points its setup cell: an address that fails at once,
# saying who gives the right one.
NO_URL = "https://example.invalid/ask-your-teacher-for-the-course-url"


def course_files(root: Path) -> list[Path]:
    """The files of the course at ``root``: tracked and untracked ones git does not ignore
    (never .git, the venv, data or runs), relative to ``root``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=root, capture_output=True, text=True)
    if listed.returncode != 0:
        raise ConfigError(f"{root}: not a git checkout ({listed.stderr.strip()}); a release is "
                          "made from a clone of the course")
    return sorted(Path(name) for name in set(listed.stdout.split("\0")) if name
                  and (root / name).is_file())


def for_students(path: Path, root: Path) -> bool:
    """Whether ``path`` goes into the students' copy: not the solutions, nor a file outside
    the package that imports them."""
    if path == SOLUTIONS_FILE:
        return False
    if path.suffix != ".py" or path.parts[0] == PACKAGE_DIR.name:
        return True
    return not SOLUTIONS_IMPORT.search((root / path).read_text(errors="replace"))


def release(out: str | Path, repo_url: str | None = None, solutions: bool = False) -> Path:
    """Write the students' copy (or with ``solutions`` the instructor's) into the new folder
    ``out``; returns it.

    Example: ``release("/tmp/course", "https://github.com/school/course")``, then push that
    folder to the URL as a new repository.
    """
    root, out = project_root(), Path(out).absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"{out}: already exists and is not an empty folder; give a new one")
    if out.is_relative_to(root):
        raise OutputError(f"{out}: inside the course's checkout {root}; give a folder outside "
                          "it (the release is a new repository)")
    if solutions and not (root / SOLUTIONS_FILE).is_file():
        raise ConfigError(f"{root / SOLUTIONS_FILE}: absent (a students' copy?); the "
                          "instructor's copy is made from the instructor's checkout")
    files = [f for f in course_files(root) if solutions or for_students(f, root)]
    return build_folder(out, lambda tmp: _write(root, tmp, files, repo_url or NO_URL,
                                                solutions))


def _write(root: Path, folder: Path, files: Iterable[Path], repo_url: str,
           solutions: bool) -> None:
    for name in files:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if name.suffix == ".ipynb":
            notebook = nbformat.read(root / name, as_version=4)
            nbformat.write(released(notebook, repo_url, solutions, str(name)), target)
        else:
            target.write_bytes((root / name).read_bytes())
            target.chmod((root / name).stat().st_mode)


def released(notebook: nbformat.NotebookNode, repo_url: str, solutions: bool,
             name: str) -> nbformat.NotebookNode:
    """``notebook`` as released: its setup cell cloning ``repo_url``, each answer cell blank
    (or solved) and without outputs. ``name`` names the notebook in errors."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and SETUP_URL.search(cell.source):
            cell.source = SETUP_URL.sub(f"REPO_URL = {repo_url!r}  # practical3 release "
                                        "--repo-url", cell.source)
    for found in answer_cells(notebook):
        cell = notebook.cells[found.index]
        if ANSWER_LINE.search(cell.source) is None:
            raise ConfigError(f"{name}, cell {found.index}: exercise {found.key} has no line "
                              "`answer = ...`; the release fills or blanks that line")
        line = solved_line(found.key, found.context) if solutions else "answer = None"
        start, end = ANSWER_LINE.search(cell.source).span()
        cell.source = cell.source[:start] + line + cell.source[end:]
        cell.outputs, cell.execution_count = [], None
    if solutions:
        _answer_questionnaire(notebook, name)
    return notebook


def questions(notebook: nbformat.NotebookNode) -> tuple[int, list[str]] | None:
    """(the cell's position, its numbered questions) of the notebook's questionnaire, or None."""
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and cell.source.startswith(QUESTIONNAIRE):
            return i, [q.strip() for q in QUESTION.split(cell.source)[1:]]
    return None


def _answer_questionnaire(notebook: nbformat.NotebookNode, name: str) -> None:
    """Put the questionnaire's answers (``course/solutions.py``) in a cell below it."""
    from practical3.course.solutions import QUESTIONNAIRE as ANSWERS

    found = questions(notebook)
    number = Path(name).name[:2]
    if found is None:
        return
    position, asked = found
    answers = ANSWERS.get(number, ())
    if len(answers) != len(asked):
        raise ConfigError(f"{name}: {len(asked)} questions, {len(answers)} answers in "
                          f"{SOLUTIONS_FILE}'s QUESTIONNAIRE[{number!r}]; give one per question")
    text = "\n".join(f"{n}. {a}" for n, a in enumerate(answers, start=1))
    notebook.cells.insert(position + 1, nbformat.v4.new_markdown_cell(
        f"### Answers (instructor's copy)\n\n{text}"))


@cache
def _solutions_module() -> tuple[str, ast.Module]:
    source = (project_root() / SOLUTIONS_FILE).read_text()
    return source, ast.parse(source)


def solved_line(key: str, context: tuple[str, ...]) -> str:
    """The code that sets ``answer`` to exercise ``key``'s right answer: the right lambda of
    ``course/solutions.py`` with the cell's context expressions put in for its parameters,
    after the imports and helper functions it uses (so it needs no solutions module)."""
    source, module = _solutions_module()
    right = _right_lambda(module, key)
    params = [arg.arg for arg in right.args.args]
    if len(params) != len(context):
        raise ConfigError(f"{SOLUTIONS_FILE}: the answer to {key} takes {params}, but its "
                          f"answer cell passes {list(context)}")
    bound = {p: ast.parse(c, mode="eval").body for p, c in zip(params, context, strict=True)}
    body = _Substitute(bound).visit(right.body)
    needed = _dependencies(module, source, _free_names(right.body) - set(params))
    return "\n".join([*needed, f"answer = {ast.unparse(body)}"])


def _right_lambda(module: ast.Module, key: str) -> ast.Lambda:
    for node in ast.walk(module):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == key and isinstance(v, ast.Call) \
                        and v.args and isinstance(v.args[0], ast.Lambda):
                    return v.args[0]
    raise ConfigError(f"{SOLUTIONS_FILE}: no Solution(right, wrong) for exercise {key}")


def _free_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def _dependencies(module: ast.Module, source: str, names: set[str]) -> list[str]:
    """The import lines and module-level functions and classes of the solutions that ``names``
    use (and those they use in turn), as source lines, imports first."""
    imports, functions, todo, seen = [], [], set(names), set()
    while todo:
        name = todo.pop()
        seen.add(name)
        for node in module.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
                functions.append(ast.get_source_segment(source, node) or "")
                todo |= _free_names(node) - seen - _parameters(node)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if (alias.asname or alias.name.split(".")[0]) == name:
                        module_name = f"from {node.module} " if isinstance(
                            node, ast.ImportFrom) else ""
                        imports.append(f"{module_name}import {alias.name}")
    return sorted(set(imports)) + [f"{f}\n" for f in functions]


def _parameters(node: ast.AST) -> set[str]:
    """The parameter names of every function defined in ``node``."""
    return {a.arg for f in ast.walk(node) if isinstance(f, ast.FunctionDef) for a in f.args.args}


class _Substitute(ast.NodeTransformer):
    """Puts the cell's context expressions in for the lambda's parameters."""

    def __init__(self, bound: dict[str, ast.expr]) -> None:
        self.bound = bound

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.bound.get(node.id, node)
