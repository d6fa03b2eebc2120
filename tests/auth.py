"""API tokens for tests: every test that needs an ``Authorization: Token ...`` header gets its key here,
so the token model is named in one place (knox, through core.authentication.issue_token)."""
from __future__ import annotations

from core.authentication import issue_token


def token_for(user) -> str:
    """Return a fresh API token key for ``user`` (the header is ``Authorization: Token <key>``)."""
    return issue_token(user)[1]
