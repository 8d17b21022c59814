"""What the nightly benchmark reads while and after a night runs: the memory of process trees
(sampled from ``/proc``) and the task instances of Airflow's metadata database (SQLite under
``airflow dags test``; the scheduler's Postgres rows come from :mod:`crmwh.airflow_metadata`
and are read by :func:`task_records` alike)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

PROC = Path("/proc")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def parents(proc: Path = PROC) -> dict[int, int]:
    """Every live process id with its parent's id."""
    out = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone between listing and reading
            continue
        # the command name in parentheses may hold spaces: the fields after its last ')'
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(entry.name)] = int(fields[1])
    return out


def tree(roots: Iterable[int], parent_of: dict[int, int]) -> set[int]:
    """The ``roots`` (those alive) and all their descendants."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [r for r in roots if r in parent_of]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def rss_kb(pid: int, proc: Path = PROC) -> int:
    """Resident set size of one process in KiB (0 when it is gone)."""
    try:
        return int((proc / str(pid) / "statm").read_text().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def pss_kb(pid: int, proc: Path = PROC) -> int:
    """Proportional set size in KiB (shared pages split among their users; 0 when unreadable)."""
    try:
        for line in (proc / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


class PeakMemory:
    """Samples every ``interval`` seconds the summed RSS and PSS of named process trees and keeps
    each tree's peak. ``trees`` maps a name to a function returning the tree's process ids,
    given the parent map of the moment."""

    def __init__(self, trees: dict[str, Callable[[dict[int, int]], set[int]]],
                 interval: float = 0.5) -> None:
        self.trees = trees
        self.interval = interval
        self.peak = {name: {"rss_mb": 0.0, "pss_mb": 0.0, "processes": 0} for name in trees}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="peak-memory")

    def sample(self) -> None:
        parent_of = parents()
        for name, pids_of in self.trees.items():
            pids = pids_of(parent_of)
            rss = sum(rss_kb(p) for p in pids) / 1024
            pss = sum(pss_kb(p) for p in pids) / 1024
            peak = self.peak[name]
            peak["rss_mb"] = round(max(peak["rss_mb"], rss), 1)
            peak["pss_mb"] = round(max(peak["pss_mb"], pss), 1)
            peak["processes"] = max(peak["processes"], len(pids))
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def children_except(root: int, skip: set[int]) -> Callable[[dict[int, int]], set[int]]:
    """The descendants of ``root`` (not ``root`` itself), leaving out the trees of ``skip``."""
    def pids(parent_of: dict[int, int]) -> set[int]:
        mine = tree([root], parent_of) - {root}
        return mine - tree(skip, parent_of)
    return pids


def postmaster_pid(pgdata: Path) -> int | None:
    """The server's process id from ``postmaster.pid`` (None when it is not running)."""
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None


# --- Airflow's metadata database ----------------------------------------------------------


def run_ids(db: Path, dag_id: str) -> set[str]:
    """The ids of every run of ``dag_id`` recorded in the SQLite metadata database ``db``."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute("select run_id from dag_run where dag_id = ?",
                                           (dag_id,))}


def _parse(stamp: str | None) -> datetime | None:
    """A stored time stamp; one without an offset is UTC (as Airflow stores them)."""
    if not stamp:
        return None
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def task_times(db: Path, dag_id: str, run_id: str) -> list[dict]:
    """Each task instance of one run in the SQLite metadata database ``db``
    (:func:`task_records`)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            """select task_id, map_index, state, start_date, end_date, duration
               from task_instance where dag_id = ? and run_id = ?""", (dag_id, run_id)).fetchall()
    return task_records(rows)


def task_records(rows: Iterable[tuple]) -> list[dict]:
    """Task instances given as (task id, map index, state, start, end, duration): task id,
    state, start, end and wall seconds (from ``duration``, else end - start), slowest first."""
    out = []
    for task_id, map_index, state, start, end, duration in rows:
        started, ended = _parse(start), _parse(end)
        if duration is None and started and ended:
            duration = (ended - started).total_seconds()
        out.append({"task_id": task_id if map_index in (None, -1) else f"{task_id}[{map_index}]",
                    "state": state, "start": start, "end": end,
                    "seconds": round(duration, 2) if duration is not None else None})
    return sorted(out, key=lambda t: -(t["seconds"] or 0))


def span_seconds(tasks: list[dict]) -> float | None:
    """From the first task's start to the last task's end."""
    starts = [_parse(t["start"]) for t in tasks if t["start"]]
    ends = [_parse(t["end"]) for t in tasks if t["end"]]
    if not starts or not ends:
        return None
    return round((max(ends) - min(starts)).total_seconds(), 2)


def most_at_once(tasks: list[dict]) -> int:
    """The largest number of tasks that ran at one moment (from their start and end)."""
    edges = sorted([(_parse(t["start"]), 1) for t in tasks if t["start"] and t["end"]]
                   + [(_parse(t["end"]), -1) for t in tasks if t["start"] and t["end"]],
                   key=lambda edge: (edge[0], edge[1]))  # an end before a start at one instant
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best
