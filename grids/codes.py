"""Grid codes: the 15-digit code every grid has, and the 20-digit code of CJ/T 349-2010 kept beside it.

- 15 digits (DB11/T 2157-2023): county 6 + town 3 + village 3 + sequence 3 (``Grid.code``).
- 20 digits, CJ/T 349-2010 (数字社区管理与服务 网格划分与编码规则), its figure 1:
  digits 1-6 the code of the management or service object (CJ/T 348-2010; a major class ends in 00),
  7-12 the county (GB/T 2260), 13-15 the street, town or township (GB/T 10114), 16-18 the community
  (601.. for a grid made of merged communities), 19-20 the grid's sequence inside the community (00 when
  the community is not subdivided).

The rule of this platform (``code20_of``): code20 = object code + the first 12 digits of the 15-digit code
(county, town, village) + the last 2 digits of its 3-digit sequence (001 -> 01; a dedicated grid's 901 ->
01). The object code: CJ/T 348-2010's table was not at hand, so a comprehensive grid, which takes every
matter, has 000000, and a dedicated grid 99PP00, PP its purpose's number below: a local range (99), to be
replaced by the CJ/T 348 codes when a town adopts them. A comprehensive grid numbered past 099 has no
20-digit code (the rule refuses it), nor does a grid whose code is not 15 digits.
"""
from __future__ import annotations

import re

from django.core.exceptions import ValidationError

CODE20_PATTERN = r"^\d{20}$"
CODE20_HELP = ("20 digits (CJ/T 349-2010): 6-digit object code + 6-digit county + 3-digit town + 3-digit community "
               "+ 2-digit grid sequence, the middle 12 the same as the 15-digit code's first 12")
COMPREHENSIVE_OBJECT = "000000"
PURPOSE_NUMBERS = {"industrial_park": 1, "school": 2, "market": 3, "river": 4, "hospital": 5, "scenic_area": 6,
                   "construction_site": 7, "transport_hub": 8}
_CODE20 = re.compile(CODE20_PATTERN)


def object_code(kind: str, purpose: str = "") -> str:
    """Return the 6-digit object code of a grid of this kind and purpose (see the module's note)."""
    if kind == "comprehensive":
        return COMPREHENSIVE_OBJECT
    if purpose not in PURPOSE_NUMBERS:
        raise ValueError(f"no object code for a dedicated grid of purpose {purpose!r}")
    return f"99{PURPOSE_NUMBERS[purpose]:02d}00"


def code20_of(code: str, kind: str, purpose: str = "") -> str:
    """Return the 20-digit CJ/T 349 code of a grid from its 15-digit code (ValueError when the rule cannot)."""
    if not re.fullmatch(r"\d{15}", code or ""):
        raise ValueError(f"{code!r} is not a 15-digit grid code")
    sequence = int(code[12:])
    if kind == "comprehensive" and sequence > 99:
        raise ValueError(f"grid {code}: sequence {sequence} does not fit the 2 digits of CJ/T 349")
    return object_code(kind, purpose) + code[:12] + code[-2:]


def validate_code20(value: str) -> None:
    """Raise ValidationError unless ``value`` is 20 digits (``CODE20_HELP``)."""
    if not isinstance(value, str) or not _CODE20.match(value):
        raise ValidationError(f"not a CJ/T 349 grid code: {CODE20_HELP}", code="grid_code20")
