"""Decoding many files at once: PNG decoding releases the GIL, so threads scale with the cores."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
MAX_THREADS = 8
PROGRESS_FROM = 2000  # items: fewer decode in a second or two, too fast for a progress bar


def thread_map(work: Callable[[T], R], items: Iterable[T], progress: bool = False,
               desc: str = "decoding") -> Iterator[R]:
    """``work`` applied to every item in a few threads, results in the order of ``items``;
    a progress bar when asked and there are enough items to take a while."""
    from tqdm import tqdm

    items = list(items)
    shown = progress and len(items) >= PROGRESS_FROM
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, os.cpu_count() or 1)) as pool:
        yield from tqdm(pool.map(work, items), total=len(items), disable=not shown,
                        desc=desc, unit="img")
