"""What every page's template gets."""
from __future__ import annotations

from core.schema import GeoJsonPagination
from incidents import rules


def incident_rules(request) -> dict:
    """The incident rules the pages' modules evaluate (``rules.for_the_browser``) and the API's largest
    page (``max_page_size``, a phone's "more" stops there), for ``web/modules.html`` to hand to
    ``web/helpers.js``."""
    return {"incident_rules": {**rules.for_the_browser(), "max_page_size": GeoJsonPagination.max_page_size}}
