"""Atomic writes with any legal name, their first error kept, and sets of files that appear
together (``base.atomic``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from practical3.base import atomic
from practical3.base.atomic import NAME_MAX, fit_name, staged, write_text, write_with


class Killed(BaseException):
    """The process dying at this point (nothing after it runs, as after a SIGKILL)."""


def test_fit_name_leaves_a_name_that_fits():
    assert fit_name("scan.png", 8) == "scan.png"


def test_fit_name_cuts_a_long_name_and_marks_it_with_a_hash_of_the_whole():
    cut = fit_name("a" * 300, 100)
    assert len(cut) == 100 and cut.startswith("a" * 91 + "~")
    assert fit_name("a" * 299 + "b", 100) != cut  # names that differ only past the cut


def test_fit_name_never_cuts_a_character_in_half():
    cut = fit_name("é" * 100, 100)  # 200 bytes; the cut falls inside a 2-byte character
    assert len(cut.encode()) <= 100 and cut.startswith("é" * 45 + "~")


def test_a_file_of_the_longest_legal_name_is_written(tmp_path):
    path = tmp_path / ("x" * NAME_MAX)  # its scratch name ".NAME.tmp-PID" used to exceed it
    write_text(path, "kept")
    assert path.read_text() == "kept"
    assert os.listdir(tmp_path) == [path.name]


def test_a_failed_write_raises_its_own_error_when_the_clean_up_fails_too(tmp_path, monkeypatch):
    def refuse(self, missing_ok=False):
        raise PermissionError("clean-up refused")

    def fails(tmp):
        raise ValueError("the first error")

    monkeypatch.setattr(Path, "unlink", refuse)
    with pytest.raises(ValueError, match="the first error"):
        write_with(tmp_path / "out.txt", fails)


def test_a_kill_while_a_set_moves_in_leaves_no_old_last_file_beside_new_ones(tmp_path,
                                                                          monkeypatch):
    write_text(tmp_path / "part.csv", "old\n")
    write_text(tmp_path / "done.json", "old\n")
    real_replace = os.replace

    def killed_before_the_last(src, dst):
        if Path(dst) == tmp_path / "done.json":
            raise Killed
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", killed_before_the_last)
    with pytest.raises(Killed), staged(tmp_path, last="done.json") as stage:
        write_text(stage / "part.csv", "new\n")
        write_text(stage / "done.json", "new\n")
    assert (tmp_path / "part.csv").read_text() == "new\n"
    assert not (tmp_path / "done.json").exists()  # no "done" beside a part of another set


def test_a_set_that_moves_in_replaces_every_file(tmp_path):
    write_text(tmp_path / "done.json", "old\n")
    with staged(tmp_path, last="done.json") as stage:
        write_text(stage / "part.csv", "new\n")
        write_text(stage / "done.json", "new\n")
    assert sorted(os.listdir(tmp_path)) == ["done.json", "part.csv"]
    assert (tmp_path / "done.json").read_text() == "new\n"
