"""The managers' questions (DOMAIN §7) as ready SQL files (sql/questions): one per question,
each with its header and one statement, reading marts only. (Each run on a built warehouse:
tests/integration/test_questions.py.)
"""

from __future__ import annotations

import re

from crmwh.settings import PROJECT_ROOT

QUESTIONS = PROJECT_ROOT / "sql" / "questions"


def test_every_question_file_has_a_header_and_one_statement():
    files = sorted(QUESTIONS.glob("*.sql"))
    assert len(files) >= 8  # one per DOMAIN §7 question
    for f in files:
        text = f.read_text()
        assert re.match(r"\d\d_[a-z0-9_]+\.sql$", f.name)
        assert re.match(r"-- Question \(DOMAIN §[67]\): ", text), f.name
        assert "marts." in text and "core." not in text, f"{f.name} must read marts only"
        code = "\n".join(line.split("--")[0] for line in text.splitlines())
        assert code.strip().rstrip(";").count(";") == 0, f"{f.name}: one statement"


def test_no_question_needs_editing_to_ask_it_another_way():
    """A BI tool sets filters on columns; it rewrites a LIMIT (Superset: to its row limit) and
    cannot edit a parameters CTE. Top N is a rank filter, a period or grain a column."""
    for f in sorted(QUESTIONS.glob("*.sql")):
        code = "\n".join(line.split("--")[0] for line in f.read_text().splitlines()).lower()
        assert not re.search(r"\blimit\b", code), f"{f.name}: filter a rank column, no LIMIT"
        assert not re.search(r"\bparams\b", code), f"{f.name}: filter columns, no params CTE"
