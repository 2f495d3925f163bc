"""The students' release: no solutions, answer cells blank, the teacher's URL; the instructor's
copy: every answer cell solved, runnable without the solutions module."""

from __future__ import annotations

import nbformat
import pytest

from practical3.base.errors import OutputError
from practical3.course.exercises import EXERCISES, feedback
from practical3.course.solutions import SOLUTIONS
from practical3.grading.cells import answer_cell, answer_cells
from practical3.grading.release import SOLUTIONS_FILE, release, solved_line

URL = "https://git.example.edu/course/practical3"


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    return (release(folder / "students", URL), release(folder / "instructor", URL, solutions=True))


def notebooks(root):
    return {p.name: nbformat.read(p, as_version=4) for p in sorted((root / "notebooks").glob(
        "*.ipynb"))}


def test_the_students_copy_has_no_solutions_and_no_history(copies):
    students, instructor = copies
    assert not (students / SOLUTIONS_FILE).exists() and (instructor / SOLUTIONS_FILE).is_file()
    assert not (students / ".git").exists()
    assert not any("course.solutions" in p.read_text() for p in (students / "tests").glob("*.py"))


def test_the_notebooks_keep_their_names(copies):
    students, _ = copies
    assert sorted(notebooks(students)) == ["01_download_and_eda.ipynb", "02_unet_model.ipynb",
                                           "03_training.ipynb", "04_evaluation.ipynb"]


def test_every_answer_cell_of_the_students_copy_is_blank(copies):
    found = [(nb.cells[c.index].source, c) for nb in notebooks(copies[0]).values()
             for c in answer_cells(nb)]
    assert sorted(c.key for _, c in found) == sorted(EXERCISES)
    assert all("answer = None" in source and c.answer == "answer" for source, c in found)


def test_the_setup_cell_clones_the_teachers_url(copies):
    for nb in notebooks(copies[0]).values():
        setup = next(c.source for c in nb.cells if "REPO_URL =" in c.source)
        assert f"REPO_URL = {URL!r}" in setup and "practical3-course" not in setup


def test_a_solved_line_needs_no_solutions_module():
    line = solved_line("1.3", ("index", "cfg.part"))
    assert "solutions" not in line and "def _test_rows" in line
    expected = "answer = int((_test_rows(index, cfg.part).cls != 'COVID-19').sum())"
    assert line.splitlines()[-1] == expected


def test_each_solved_line_is_the_solutions_answer():
    """Exercises without context: the line run alone gives SOLUTIONS' answer, which is right."""
    for key in ("1.4", "2.1", "2.2", "2.4", "3.2", "4.1"):
        scope: dict = {}
        exec(solved_line(key, ()), scope)
        assert scope["answer"] == SOLUTIONS[key].right()
        assert feedback(key, scope["answer"]).right


@pytest.mark.parametrize("key", ["1.5", "2.5", "3.5", "4.5"])
def test_a_solved_function_cell_defines_what_it_answers(key):
    scope: dict = {}
    exec(solved_line(key, ()), scope)
    assert "solutions" not in solved_line(key, ()) and feedback(key, scope["answer"]).right


def test_the_questionnaires_answers_are_in_the_instructors_copy_only(copies):
    from practical3.course.solutions import QUESTIONNAIRE
    from practical3.grading.release import questions

    students, instructor = (notebooks(c) for c in copies)
    for name, notebook in instructor.items():
        position, asked = questions(notebook)
        assert len(asked) == len(QUESTIONNAIRE[name[:2]]) >= 4
        assert QUESTIONNAIRE[name[:2]][0] in notebook.cells[position + 1].source
        assert not any(QUESTIONNAIRE[name[:2]][0] in c.source for c in students[name].cells)


def test_the_instructors_cells_are_all_solved(copies):
    for nb in notebooks(copies[1]).values():
        for cell in answer_cells(nb):
            assert "answer = None" not in nb.cells[cell.index].source


def test_an_answer_cell_is_found_by_its_call():
    found = answer_cell(3, 'x = 1\ncheck_exercise("2.2", x + 1, index, cfg.part)\n')
    assert (found.key, found.answer, found.context) == ("2.2", "x + 1", ("index", "cfg.part"))
    assert answer_cell(0, "print('check_exercise')") is None
    assert answer_cell(0, "def broken(:") is None


def test_a_release_never_overwrites(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    with pytest.raises(OutputError, match="not an empty folder"):
        release(tmp_path / "taken")
