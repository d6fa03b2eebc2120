"""The standard component code (部件标识码, GB/T 30428.2): one rule, read by the model's constraint,
the validator, the importer and the intake serializer.

16 digits = the 6-digit county code (GB/T 2260) + the 2-digit major class (大类) + the 2-digit minor
class (小类) + a 6-digit serial number, e.g. ``3210030101000001``: 上水井盖 (0101) number 1 in Hanjiang
(321003). The 4 digits after the county code are the component's type code (``ComponentType.code``).
"""
from __future__ import annotations

import re

from django.core.exceptions import ValidationError

CODE_PATTERN = r"^\d{6}\d{4}\d{6}$"
TYPE_PATTERN = r"^\d{2}(\d{2})?$"  # 大类 (2 digits) or 小类 (4 digits)
CODE_HELP = ("16 digits: 6-digit county code + 2-digit 大类 + 2-digit 小类 + 6-digit serial (GB/T 30428.2), "
             "e.g. 3210030101000001")
_CODE = re.compile(CODE_PATTERN)


def type_code_of(code: str) -> str:
    """Return the 4-digit type code (大类 + 小类) inside a component code."""
    return code[6:10]


def validate_component_code(value: str) -> None:
    """Raise ValidationError unless ``value`` is a component code (``CODE_HELP``)."""
    if not isinstance(value, str) or not _CODE.match(value):
        raise ValidationError(f"not a component code: {CODE_HELP}", code="component_code")
