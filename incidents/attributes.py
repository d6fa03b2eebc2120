"""Extra questions a category asks at intake (the handbook's 补充信息), as Open311 service definitions have them.

A category's ``attributes`` is a list of questions, each ``{"code", "datatype", "required", "description",
"values"}`` with a GeoReport v2 datatype (string, number, datetime, text, singlevaluelist, multivaluelist;
the lists name their ``values`` as ``{"key", "name"}``). The answers come with the report (the API's
``attributes`` object, Open311's ``attribute[code]`` fields), are checked here against the questions, and
are stored with the incident as ``{code: value}``. One module checks both the questions (the admin) and the
answers (every intake path).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from django.utils.dateparse import parse_datetime

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LISTS = ("singlevaluelist", "multivaluelist")
CODE = re.compile(r"^[A-Za-z0-9_]{1,40}$")
MAX_QUESTIONS = 20
MAX_TEXT = {"string": 200, "text": 2000}


class AnswerErrors(Exception):
    """Answers that do not fit the questions: ``messages`` maps a question's code to why."""

    def __init__(self, messages: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in messages.items()))
        self.messages = messages


def definition_errors(questions) -> list[str]:
    """Return what is wrong with a category's questions (empty: nothing)."""
    if not isinstance(questions, list):
        return ["a list of questions"]
    if len(questions) > MAX_QUESTIONS:
        return [f"at most {MAX_QUESTIONS} questions"]
    errors, seen = [], set()
    for n, q in enumerate(questions, 1):
        if not isinstance(q, dict) or not CODE.match(str(q.get("code", ""))):
            errors.append(f"question {n}: a code of letters, digits and _")
            continue
        if q["code"] in seen:
            errors.append(f"question {n}: code {q['code']} twice")
        seen.add(q["code"])
        if q.get("datatype") not in DATATYPES:
            errors.append(f"question {q['code']}: datatype one of {', '.join(DATATYPES)}")
        if not str(q.get("description", "")).strip():
            errors.append(f"question {q['code']}: a description (the question asked)")
        values = q.get("values", [])
        if q.get("datatype") in LISTS and (not isinstance(values, list) or not values or not all(
                isinstance(v, dict) and str(v.get("key", "")) and str(v.get("name", "")) for v in values)):
            errors.append(f"question {q['code']}: values as a list of key and name")
    return errors


def check_answers(questions: list[dict], given: Mapping | None) -> dict | None:
    """Return the answers to store (None when there are no questions and no answers); raise
    AnswerErrors naming each unknown, missing or unfitting answer."""
    given = dict(given or {})
    if not questions and not given:
        return None
    by_code = {q["code"]: q for q in questions}
    errors = {code: "not a question of this category" for code in given if code not in by_code}
    answers = {}
    for code, q in by_code.items():
        value = given.get(code)
        if value in (None, "", []):
            if q.get("required"):
                errors[code] = f"required: {q['description']}"
            continue
        message, value = _fit(q, value)
        if message:
            errors[code] = message
        else:
            answers[code] = value
    if errors:
        raise AnswerErrors(errors)
    return answers


def _fit(q: dict, value) -> tuple[str | None, object]:
    kind = q["datatype"]
    if kind in MAX_TEXT:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return "a text", None
        text = str(value).strip()
        return (f"at most {MAX_TEXT[kind]} characters", None) if len(text) > MAX_TEXT[kind] else (None, text)
    if kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return "a number", None
        return ("a finite number", None) if number != number or number in (float("inf"), float("-inf")) \
            else (None, number)
    if kind == "datetime":
        try:
            when = parse_datetime(str(value)) if isinstance(value, str) else None
        except ValueError:
            when = None
        return ("an ISO 8601 date-time", None) if when is None else (None, value.strip())
    keys = {str(v["key"]) for v in q.get("values", [])}
    chosen = value if isinstance(value, list) else [value]
    if kind == "singlevaluelist" and len(chosen) != 1:
        return "one of the values", None
    if not all(isinstance(c, str | int) and str(c) in keys for c in chosen):
        return f"one of: {', '.join(sorted(keys))}", None
    return None, [str(c) for c in chosen] if kind == "multivaluelist" else str(chosen[0])


def open311_definition(questions: list[dict]) -> list[dict]:
    """Return the questions as GeoReport v2's service definition lists its attributes."""
    return [{"variable": True, "code": q["code"], "datatype": q["datatype"], "required": bool(q.get("required")),
             "datatype_description": q.get("datatype_description", ""), "order": n,
             "description": q["description"],
             "values": [{"key": str(v["key"]), "name": str(v["name"])} for v in q.get("values", [])]}
            for n, q in enumerate(questions, 1)]
