"""Writes on categories (incidents themselves change only through intake and lifecycle)."""
from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction

from incidents.models import Category

CATEGORIES_FILE = Path(__file__).resolve().parent / "data" / "categories.json"


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
