"""Keep prometheus-client's multiprocess directory small across worker recycling.

Each worker writes its own files. When a worker exits, its live gauges are
dropped and its counters and histograms are added into one archive file per
type, then its files are removed: totals stay exact (counters never go
backwards) and recycling does not pile up files that every scrape must read.
Runs in the gunicorn master only, one worker exit at a time.
"""

from __future__ import annotations

import logging
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import mark_process_dead

log = logging.getLogger(__name__)

ARCHIVED_KINDS = ("counter", "histogram")


def archive_dead_worker(directory: Path, pid: int) -> None:
    mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    for kind in ARCHIVED_KINDS:
        dead = directory / f"{kind}_{pid}.db"
        if not dead.exists():
            continue
        try:
            _add_into(directory / f"{kind}_archive.db", dead)
        except (OSError, ValueError):
            log.exception("could not archive metrics of worker %s; its file is kept", pid)
            continue
        dead.unlink(missing_ok=True)


def _add_into(archive_path: Path, dead: Path) -> None:
    values = MmapedDict.read_all_values_from_file(str(dead))  # type: ignore[no-untyped-call]
    archive = MmapedDict(str(archive_path))  # type: ignore[no-untyped-call]
    try:
        for key, value, timestamp, _ in values:
            current, _ = archive.read_value(key)  # type: ignore[no-untyped-call]
            archive.write_value(key, current + value, timestamp)  # type: ignore[no-untyped-call]
    finally:
        archive.close()  # type: ignore[no-untyped-call]
