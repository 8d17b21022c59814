"""Progress of a DAG run under ``airflow dags test``: "task n of m: <task>", read from the
run's log as it is written (Airflow's ``[DAG TEST]`` lines) and the run's task count from
its metadata."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import TextIO

STARTING = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
RUNNING = re.compile(r"\[DAG TEST\] running task <TaskInstance: (\S+?)\.\S+ (\S+) \[")


class DagProgress:
    """Fed the log as it grows; reports each task as it starts. On a terminal the report is
    one line rewritten in place (:meth:`close` ends it), elsewhere a line per task."""

    def __init__(self, dag_id: str, total: Callable[[str], int | None],
                 out: TextIO | None = None) -> None:
        self.dag_id = dag_id
        self.total = total  # the run's task count by run id (None: not known yet)
        self.out = out or sys.stdout
        self.inline = self.out.isatty()
        self.started: list[str] = []
        self.count: int | None = None
        self._partial = b""
        self._pending = False  # a task started before its run's task count was read

    def __call__(self, chunk: bytes) -> None:
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self.line(line.decode("utf-8", errors="replace"))

    def line(self, text: str) -> None:
        running = RUNNING.search(text)
        if running and running.group(1) == self.dag_id and self.count is None:
            self.count = self.total(running.group(2))
        if self._pending:  # the line after a task's start names its run (and so the count)
            self._pending = False
            self.report()
        started = STARTING.search(text)
        if started and started.group(1) not in self.started:
            self.started.append(started.group(1))
            if self.count is None:
                self._pending = True
            else:
                self.report()

    def message(self) -> str:
        of = f" of {self.count}" if self.count else ""
        return f"  task {len(self.started)}{of}: {self.started[-1]}"

    def report(self) -> None:
        if self.inline:
            self.out.write(f"\r\x1b[K[crmwh] {self.message()}")
        else:
            self.out.write(f"[crmwh] {self.message()}\n")
        self.out.flush()

    def close(self) -> None:
        """Report a task still pending; end the in-place line on a terminal."""
        if self._pending:
            self._pending = False
            self.report()
        if self.inline and self.started:
            self.out.write("\r\x1b[K")
            self.out.flush()
