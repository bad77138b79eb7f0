"""A progress display on stderr for long libvirt calls (create, revert, delete).

The call runs in a worker thread (the compiled core releases the GIL inside
libvirt), while this thread polls ``Domain.get_job_stats()`` and feeds a
``rich.progress`` bar with bytes done, total and rate. Drivers without job
statistics (the test driver raises OperationUnsupportedError) get a spinner.
Without rich, or when disabled, the call simply runs.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, List, Mapping, Optional, Tuple, TypeVar

from virtsnap import LibvirtError, OperationUnsupportedError

if TYPE_CHECKING:
    from rich.console import Console

    from virtsnap import Domain

__all__ = ["job_bytes", "run_with_progress"]

T = TypeVar("T")

# Which typed fields of a job describe its size, most general first.
_BYTE_FIELDS = (("data_processed", "data_total"),
                ("memory_processed", "memory_total"),
                ("disk_processed", "disk_total"))


def job_bytes(stats: Mapping[str, object]) -> Optional[Tuple[int, int]]:
    """(bytes done, bytes total) from ``get_job_stats()``, or None when unknown."""
    for done, total in _BYTE_FIELDS:
        size, processed = stats.get(total), stats.get(done, 0)
        if size and isinstance(size, (int, float)) and isinstance(processed, (int, float)):
            return int(processed), int(size)
    return None


def run_with_progress(call: Callable[[], T], domain: Domain, description: str, *,
                      enabled: bool, interval: float = 0.2,
                      console: Optional[Console] = None) -> T:
    """Return ``call()``; while it runs, show its job's progress if ``enabled``.

    The display goes to ``console`` (a rich Console), by default one on stderr.

    An exception raised by ``call`` is re-raised here.
    """
    if not enabled:
        return call()
    try:
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn,
                                   TextColumn, TimeElapsedColumn, TransferSpeedColumn)
    except ImportError:
        return call()
    values: List[T] = []
    errors: List[BaseException] = []

    def worker() -> None:
        try:
            values.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            errors.append(exc)

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn())
    console = console if console is not None else Console(stderr=True)
    with Progress(*columns, console=console, transient=True, redirect_stdout=False,
                  redirect_stderr=False) as progress:
        task = progress.add_task(description, total=None)
        thread = threading.Thread(target=worker, name="virtsnap-job", daemon=True)
        thread.start()
        polling = True
        while thread.is_alive():
            thread.join(interval)
            if not polling or not thread.is_alive():
                continue
            try:
                size = job_bytes(domain.get_job_stats())
            except OperationUnsupportedError:
                polling = False  # no statistics from this driver: the spinner stays
            except LibvirtError:
                continue  # e.g. the job has not started yet, or just ended
            else:
                if size is not None:
                    progress.update(task, completed=size[0], total=size[1])
    if errors:
        raise errors[0]
    return values[0]
