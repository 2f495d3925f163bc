"""Judge one exercise: the student's answer (carried out of their kernel as data) against the
context the grader computed itself, by the course's own check, in a process of its own.

The check runs in a forked child with an address-space limit and a time limit, so a check that
an odd answer drives into a loop or out of memory costs that exercise, not the class; the child
runs torch on one thread (a fork inherits no usable thread pool).
"""

from __future__ import annotations

import multiprocessing
import resource
from multiprocessing.connection import Connection
from typing import Any

import torch

from practical3.course.exercises import feedback

CHECK_TIMEOUT_S = 120.0
CHECK_MEMORY_BYTES = 8 * 2**30


def mapped_bytes() -> int:
    """This process's virtual address space now (``VmSize``): what a forked child starts with."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _check(key: str, answer: Any, context: tuple[Any, ...], send: Connection) -> None:
    # The limit is a budget on top of what the fork inherited: an absolute one would leave a
    # grader that already maps more than it (a long session, many imports) no room at all.
    limit = mapped_bytes() + CHECK_MEMORY_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A forked child must not enter the thread pool its parent's torch ops started: OpenMP is not
    # fork-safe, and the check's first parallel convolution would wait forever.
    torch.set_num_threads(1)
    try:
        said = feedback(key, answer, *context)
        send.send(("right" if said.right else "wrong", said.message))
    except Exception as err:  # a check that fails on this answer: that exercise's error
        send.send(("error", f"the check failed on this answer ({type(err).__name__}: {err})"))


def judge(key: str, answer: Any, context: tuple[Any, ...]) -> tuple[str, str]:
    """(status, message) of exercise ``key``: right or wrong with the check's message, missing
    for an answer left at None, or error when the check fails or runs past its limit."""
    if answer is None:
        return "missing", "not answered (the answer is still None)"
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    child = fork.Process(target=_check, args=(key, answer, context, send), daemon=True)
    child.start()
    send.close()
    try:
        if receive.poll(CHECK_TIMEOUT_S):
            return receive.recv()
        return "error", f"the check ran past {CHECK_TIMEOUT_S:.0f} s on this answer"
    except EOFError:
        return "error", "the check's process died on this answer (out of memory?)"
    finally:
        child.kill()
        child.join()
