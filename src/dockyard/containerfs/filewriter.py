"""Small regular files of a ``docker cp`` upload created and written on a second thread.

Most of an upload's time is the kernel's (a create on overlayfs costs
~70 µs), and dockerd overlaps it with reading the body by unpacking in a
process of its own.  Here the parsing thread hands each small regular file
(its data already read) to one writer thread, in order, and goes on
parsing.  Every job carries its own dup of a parent directory fd that was
opened with RESOLVE_IN_ROOT, so the writer resolves nothing by path; the
extractor waits for the queue to drain (:meth:`FileWriter.barrier`) before
any member that is not such a file, or that goes into another directory, so
the order of effects on the tree is the tar's.  The first error stops the
writing and is raised in the parsing thread at its next hand-over.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any

DEPTH = 32  # jobs in flight, each at most SMALL bytes: 8 MiB of file data held at most
SMALL = 256 << 10  # larger files are written by the parsing thread, in 1 MiB pieces


class FileWriter:
    """One writer thread running ``write(parentfd, *args)`` per job, in submission order."""

    def __init__(self, write: Callable[..., None]) -> None:
        self._write = write
        self._jobs: queue.Queue[tuple[int, tuple[Any, ...]] | None] = queue.Queue(maxsize=DEPTH)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, parentfd: int, *args: Any) -> None:
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cp-writer", daemon=True)
            self._thread.start()
        fd = os.dup(parentfd)
        try:
            self._jobs.put((fd, args))
        except BaseException:
            os.close(fd)
            raise

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fd, args = job
            try:
                if self._error is None:
                    self._write(fd, *args)
            except BaseException as exc:  # handed to the parsing thread
                self._error = exc
            finally:
                os.close(fd)
                self._jobs.task_done()
        self._jobs.task_done()

    def barrier(self) -> None:
        """Every job submitted so far done; its error, if any, raised here."""
        if self._thread is not None:
            self._jobs.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error  # kept: later jobs stay skipped

    def close(self) -> None:
        """Stop the thread after the jobs in flight (their errors are dropped: the caller failed)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
