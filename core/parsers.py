"""The API's JSON parser: DRF's, refusing JSON nested deeper than ``API_JSON_MAX_DEPTH`` with 400.

A body of 100,000 ``[`` made DRF's parser raise RecursionError (an HTML 500), and JSON nested a few
hundred levels deep parses but then exhausts the stack of whatever walks it (serializers, GeoJSON).
The standard library's decoder cannot be told a depth, so the parsed value is walked once, without
recursion, stopping at the limit; a RecursionError from the decoder itself is the same 400.
"""
from __future__ import annotations

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def depth_exceeds(value, limit: int) -> bool:
    """Return whether ``value`` (parsed JSON) nests lists and objects deeper than ``limit``."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser with a nesting limit (settings.API_JSON_MAX_DEPTH, 32 by default)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = getattr(settings, "API_JSON_MAX_DEPTH", 32)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels") from None
        if isinstance(data, dict | list) and depth_exceeds(data, limit):
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels")
        return data
