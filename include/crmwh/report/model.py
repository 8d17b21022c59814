"""What a report section holds: notes, charts (with the numbers each mark shows) and tables,
in the order the page shows them. The Jinja2 template renders them (templates/report.html.j2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup


@dataclass
class Mark:
    """One drawn value: ``attrs`` say where it is (series, x, row, col), ``text`` how it reads."""

    attrs: dict[str, str]
    value: float
    text: str


@dataclass
class Chart:
    name: str
    svg: Markup
    caption: str
    marks: list[Mark]
    kind: str = "chart"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    left: int = 1  # the first ``left`` columns are text, aligned left
    caption: str = ""
    links: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) -> href
    kind: str = "table"


@dataclass
class Note:
    text: Markup
    tone: str = ""  # "", "ok", "bad", "warn"
    kind: str = "note"


@dataclass
class Section:
    key: str
    title: str
    blocks: list[Chart | Table | Note] = field(default_factory=list)
    missing: str | None = None  # why the section could not be drawn
    facts: dict = field(default_factory=dict)

    @property
    def state(self) -> str:
        return "missing" if self.missing else "ok"

    def note(self, text: str | Markup, tone: str = "") -> None:
        self.blocks.append(Note(text if isinstance(text, Markup) else Markup.escape(text), tone))
