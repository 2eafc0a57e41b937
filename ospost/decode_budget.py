"""How much image work one process takes on at once.

Uploads share a per-process ``DecodeBudget``: a few workers and a memory
budget estimated from each file's header (``ospost.images`` does the
estimating). One that finds no room in time raises ``Busy`` (the route
answers 503 with Retry-After). ``return_freed_memory_promptly`` keeps a
threaded server from growing with every thread's past peak.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import threading
import time
from collections.abc import Iterator


class Busy(RuntimeError):
    """No room to process the upload in time; nothing was done, try again later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"image processing is busy; retry after {retry_after} s")
        self.retry_after = retry_after


class DecodeBudget:
    """Shares one process's image processing between the uploads running at once.

    At most `workers` uploads are processed together, and their estimated peak
    memory (from each file's header) may add up to at most `memory` bytes: a
    25 MP HEIC takes most of it alone, while photos the browser already cropped
    to 1440 px go several at a time.  An upload that finds no room waits up to
    `wait` seconds, then `reserve` raises Busy.
    """

    def __init__(self, workers: int, memory: int, wait: float) -> None:
        if workers < 1 or memory < 1 or wait < 0:
            raise ValueError("DecodeBudget needs workers >= 1, memory >= 1, wait >= 0")
        self.workers = workers
        self.memory = memory
        self.wait = wait
        self._room = threading.Condition()
        self._running = 0
        self._reserved = 0

    @contextlib.contextmanager
    def reserve(self, cost: int) -> Iterator[None]:
        """Hold `cost` bytes of the budget and one worker while the block runs."""
        # An upload the pixel caps admit may need more than a small budget: it
        # then runs alone rather than never.
        cost = min(cost, self.memory)
        deadline = time.monotonic() + self.wait
        with self._room:
            while self._running >= self.workers or self._reserved + cost > self.memory:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Busy(max(1, math.ceil(self.wait)))
                self._room.wait(left)
            self._running += 1
            self._reserved += cost
        try:
            yield
        finally:
            with self._room:
                self._running -= 1
                self._reserved -= cost
                self._room.notify_all()


def return_freed_memory_promptly() -> None:
    """Make freed image memory go back to the system at once (glibc only).

    glibc raises its mmap threshold (up to 32 MB) each time a big block is
    freed; from then on Pillow's 16 MB image blocks come from per-thread heaps
    that keep what is freed.  On a threaded server, where every request runs
    on a new thread, the process then grew towards the sum of each thread's
    past peak: 8 parallel worst-case uploads peaked at 460-520 MiB instead of
    ~275 MiB (bench/upload.py).  A fixed threshold turns that growth off.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return  # the operator chose a value
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc (macOS): nothing to tune
    m_mmap_threshold = -3
    mallopt(m_mmap_threshold, 128 * 1024)  # glibc's starting value
