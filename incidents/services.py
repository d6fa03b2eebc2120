"""Writes on categories (incidents themselves change only through intake and lifecycle)."""
from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction

from incidents.models import Category, ReplyTemplate

CATEGORIES_FILE = Path(__file__).resolve().parent / "data" / "categories.json"
REPLIES_FILE = Path(__file__).resolve().parent / "data" / "replies.json"


@transaction.atomic
def categories_load(path: Path = CATEGORIES_FILE) -> int:
    """Create or update categories from a JSON list (by code); return how many."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    for row in rows:
        code = row.pop("code")
        category = Category(code=code, **row)
        category.full_clean(exclude=["id"], validate_unique=False)
        Category.objects.update_or_create(code=code, defaults=row)
    return len(rows)


@transaction.atomic
def replies_load(path: Path = REPLIES_FILE) -> int:
    """Add the default reply templates (常用语) that are not there yet (by category, state, action and
    text; an edited or deactivated one is left as it is); return how many were added."""
    added = 0
    categories = {c.code: c for c in Category.objects.all()}
    for position, row in enumerate(json.loads(Path(path).read_text(encoding="utf-8"))):
        code = row.get("category")
        if code and code not in categories:
            continue  # a category this town does not have
        reply = ReplyTemplate(category=categories.get(code), state=row.get("state", ""), action=row.get("action", ""),
                              text=row["text"], position=position)
        reply.full_clean(exclude=["id"])
        _, created = ReplyTemplate.objects.get_or_create(
            category=reply.category, state=reply.state, action=reply.action, text=reply.text,
            defaults={"position": position})
        added += created
    return added
