"""Worker processes for the bench's parallel work (campaign runs, tuning trials' tasks).

Fresh (spawned) workers, each pinned to the parent's torch threads, so that ``jobs`` x threads stays
within the cores and a result does not depend on which process computed it: every unit of work seeds
itself. Ctrl-C is the parent's to handle; leaving the ``with`` block on an error ends the workers.
"""

from __future__ import annotations

import multiprocessing
import signal
from multiprocessing.pool import Pool

import torch


def worker_pool(jobs: int) -> Pool:
    """A pool of ``jobs`` spawned workers with the parent's torch threads (use it as a context manager)."""
    context = multiprocessing.get_context("spawn")  # fresh workers: safe whatever ran in this process
    return context.Pool(jobs, initializer=_init_worker, initargs=(torch.get_num_threads(),))


def _init_worker(threads: int) -> None:
    """A worker: ``threads`` torch threads; Ctrl-C is the parent's to handle (it ends the workers), and
    the parent's end ends a worker quietly."""
    torch.set_num_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
