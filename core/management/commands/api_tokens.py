"""Issue, list and revoke the API tokens (knox) of integration clients.

    manage.py api_tokens issue hotline [--days 90 | --no-expiry]   # prints the key, once
    manage.py api_tokens list [hotline]                            # never shows a key
    manage.py api_tokens revoke --user hotline | --id 1a2b3c4d5e6f7a8   (the id `list` shows)
    manage.py api_tokens prune                                     # delete expired tokens

Only a digest of each key is stored: a lost key cannot be shown again, issue a new one.
"""
from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from knox.models import get_token_model

from core.authentication import issue_token


class Command(BaseCommand):
    help = "Issue (key shown once), list, revoke or prune API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        issue = sub.add_parser("issue", help="issue a token for a user and print its key once")
        issue.add_argument("username")
        expiry = issue.add_mutually_exclusive_group()
        expiry.add_argument("--days", type=int, help="days until it expires (default: REST_KNOX TOKEN_TTL)")
        expiry.add_argument("--no-expiry", action="store_true", help="a token that never expires")
        listing = sub.add_parser("list", help="list tokens (user, id, created, expiry), never their keys")
        listing.add_argument("username", nargs="?")
        revoke = sub.add_parser("revoke", help="revoke a user's tokens, or one token by its id")
        which = revoke.add_mutually_exclusive_group(required=True)
        which.add_argument("--user", dest="username")
        which.add_argument("--id", dest="token_id", help="the id `list` shows (the key's first characters)")
        sub.add_parser("prune", help="delete every expired token")

    def handle(self, *args, **opts):
        return getattr(self, f"_{opts['action']}")(opts)

    def _user(self, username: str):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None

    def _issue(self, opts):
        user = self._user(opts["username"])
        if not user.is_active:
            raise CommandError(f"user {user.username!r} is inactive")
        if opts["no_expiry"]:
            token, key = issue_token(user, expiry=None)
        elif opts["days"] is not None:
            if opts["days"] < 1:
                raise CommandError("--days must be at least 1")
            token, key = issue_token(user, expiry=timedelta(days=opts["days"]))
        else:
            token, key = issue_token(user)
        until = token.expiry.isoformat(timespec="minutes") if token.expiry else "never"
        self.stderr.write(f"Token {token.token_key} for {user.username}, expires {until}. "
                          "The key below is shown once and stored only as a digest:")
        self.stdout.write(key)

    def _list(self, opts):
        tokens = get_token_model().objects.select_related("user").order_by("user__username", "created")
        if opts["username"]:
            tokens = tokens.filter(user=self._user(opts["username"]))
        now = timezone.now()
        for token in tokens:
            state = "expired" if token.expiry and token.expiry < now else "valid"
            until = token.expiry.isoformat(timespec="minutes") if token.expiry else "never"
            self.stdout.write(f"{token.user.username}\t{token.token_key}\tcreated "
                              f"{token.created.isoformat(timespec='minutes')}\texpires {until}\t{state}")

    def _revoke(self, opts):
        tokens = get_token_model().objects.all()
        if opts["username"]:
            tokens = tokens.filter(user=self._user(opts["username"]))
        else:
            tokens = tokens.filter(token_key=opts["token_id"])
        count, _ = tokens.delete()
        if not count:
            raise CommandError("no such token")
        self.stdout.write(f"revoked {count} token(s)")

    def _prune(self, opts):
        count, _ = get_token_model().objects.filter(expiry__lt=timezone.now()).delete()
        self.stdout.write(f"deleted {count} expired token(s)")
