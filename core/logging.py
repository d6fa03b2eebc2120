"""Keep credentials out of the logs: Open311's ``api_key`` travels in the query string (the
specification demands it), and so would a mistaken ``?token=``. ``ScrubSecrets`` replaces the value of
every ``LOG_SCRUB_PARAMETERS`` parameter (``api_key=...``) in a log line with ``[scrubbed]``.

It sits on the console handler (settings.LOGGING) and, because the servers' access loggers do not
propagate to it, on those loggers themselves (``install``, at start-up).
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache

ACCESS_LOGGERS = ("uvicorn.access", "uvicorn.error", "django.server", "django.request", "django.channels.server",
                  "daphne.server", "daphne.http_protocol")
DEFAULT_PARAMETERS = ("api_key", "token", "auth_token")


@lru_cache(maxsize=4)
def _pattern(names: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(re.escape(n) for n in names)
    # a parameter name not glued to a longer one (csrftoken=), then its value up to the next separator
    return re.compile(rf"(?<![A-Za-z0-9_-])((?:{alternatives})(?:=|%3D))[^&\s\"'#;,]*", re.IGNORECASE)


def scrub(text: str) -> str:
    """Return ``text`` with the value of every secret parameter replaced."""
    try:
        from django.conf import settings

        names = tuple(getattr(settings, "LOG_SCRUB_PARAMETERS", DEFAULT_PARAMETERS))
    except Exception:  # settings not configured (a plain logging call before Django starts)
        names = DEFAULT_PARAMETERS
    return _pattern(names).sub(r"\1[scrubbed]", text)


class ScrubSecrets(logging.Filter):
    """A logging filter that scrubs secret parameters from the message (and its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # each argument on its own: formatters may read them (uvicorn's access formatter unpacks five)
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: scrub(v) if isinstance(v, str) else v for k, v in record.args.items()}
        for attribute in ("request_line", "path", "full_path"):
            value = getattr(record, attribute, None)
            if isinstance(value, str):
                setattr(record, attribute, scrub(value))
        return True


def install() -> None:
    """Put the filter on the access loggers (they log through their own handlers, not the root's)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ScrubSecrets) for f in logger.filters):
            logger.addFilter(ScrubSecrets())
