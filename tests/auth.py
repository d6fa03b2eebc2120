"""API tokens for tests: every test that needs an ``Authorization: Token ...`` header gets its key here,
so the token model is named in one place."""
from __future__ import annotations

from rest_framework.authtoken.models import Token


def token_for(user) -> str:
    """Return a fresh API token key for ``user`` (the header is ``Authorization: Token <key>``)."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key
