"""`healthguard news2`: one JSON object per line on stdin (the body of POST /api/v1/news2),
one JSON answer per line on stdout, for scripting and audit.

A bad line (not JSON, not an object, a wrong or implausible field) gives
``{"error": {"line": n, "message": ..., "fields": [{"field", "message"}]}}`` and the next lines
go on. Blank lines are skipped without an answer. Exit status: 0 when every line was scored,
1 when at least one line was an error. Pure apart from the two streams it is given.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from pydantic import ValidationError

from healthguard.clinical.news2 import News2Body, score_news2


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def answer_line(text: str, line_number: int) -> tuple[dict[str, Any], bool]:
    """The answer to one input line, and whether it was scored."""

    def error(message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"line": line_number, "message": message}
        if fields:
            body["fields"] = fields
        return {"error": body}

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return error(f"is not valid JSON ({exc.msg} at character {exc.pos})"), False
    if not isinstance(data, dict):
        return error("must be a JSON object with the NEWS2 parameters"), False
    try:
        body = News2Body.model_validate(data)
    except ValidationError as exc:
        fields = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return error(summary, fields), False
    try:
        result = score_news2(body.to_input())
    except ValueError as exc:  # defensive: the body model already checked every field
        return error(str(exc)), False
    return result.answer(), True


def run_news2_lines(stdin: TextIO, stdout: TextIO) -> int:
    """Score every line of `stdin` onto `stdout`; 0 if all were scored, 1 otherwise."""
    status = 0
    for number, raw in enumerate(stdin, start=1):
        if not raw.strip():
            continue
        answer, ok = answer_line(raw, number)
        if not ok:
            status = 1
        stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
        stdout.flush()
    return status
