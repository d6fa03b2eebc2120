"""What every page's template gets."""
from __future__ import annotations

from incidents import rules


def incident_rules(request) -> dict:
    """The incident rules the pages' modules evaluate (``rules.for_the_browser``), for
    ``web/modules.html`` to hand to ``web/helpers.js``."""
    return {"incident_rules": rules.for_the_browser()}
