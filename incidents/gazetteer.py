"""A local gazetteer: resolve a free-text address to a point in the town, with no external geocoder.

The names come from the platform's own data: cameras (code and name, at the camera location),
grids of the active generation (dedicated grid names are landmarks), villages and communities
(name, official NBS name, bare stem, stem + 社区/居委会/村/村委会) and the town itself. Every entry
has an EPSG:4326 point: the camera location, or ``ST_PointOnSurface`` of the polygon (always inside).

Matching rules:
- the text is normalised (NFKC: full-width digits/letters to half-width; whitespace removed;
  latin upper-cased) and searched for every alias as a plain substring, never as a regex;
- the winner is decided by tier first (camera > dedicated grid > comprehensive grid > village >
  town), then the longer alias, then the code: a landmark beats a village mentioned alongside it;
- an alias beginning or ending with a latin letter or digit (a camera code) must not touch another
  latin letter or digit in the text, so GDC0051 does not match GDC005;
- aliases of one character or of digits only are never searched (a house number is not a place);
- an alias claimed by two places is kept for the explicit name over a derived form (赤岸村 is the
  village 赤岸村, not 赤岸社区 + 村); when still claimed by two places of the same tier it is dropped
  (bare 赤岸 names two villages): the caller gets ``None`` and triages instead of a guess.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.gis.db.models.functions import PointOnSurface

from cameras.models import Camera
from grids.models import BoundaryGeneration, Grid, Town, Village

# Each source of names: (tier, lower wins; kind; precision of its point).
SOURCES = {"camera": (0, "camera", "landmark"), "dedicated": (1, "grid", "landmark"),
           "comprehensive": (2, "grid", "grid"), "village": (3, "village", "village"), "town": (4, "town", "town")}

VILLAGE_SUFFIXES = ("村民委员会", "居民委员会", "村委会", "居委会", "社区", "村")
VILLAGE_FORMS = ("社区", "居委会", "居民委员会", "村", "村委会", "村民委员会")
TOWN_SUFFIXES = ("街道办事处", "街道", "镇", "乡")
DEDICATED_SUFFIXES = ("专属网格", "网格")
MIN_STEM = 2  # a one-character stem would match far too much text
MIN_LANDMARK_REST = 3  # "滨湖风光带" may stand without its village, "河道" may not
_WHITESPACE = re.compile(r"\s+")
_GRID_NUMBER = re.compile(r"第(\d{1,2})网格")
_CN_DIGITS = "零一二三四五六七八九"


@dataclass(frozen=True)
class GazetteerMatch:
    """The place an address resolved to: a point (EPSG:4326) and how coarse it is."""

    lon: float
    lat: float
    matched: str  # the gazetteer name that matched
    kind: str  # "camera" | "grid" | "village" | "town"
    precision: str  # "landmark" | "grid" | "village" | "town"


@dataclass(frozen=True)
class Place:
    """A named place with its point; ``source`` is a key of SOURCES."""

    source: str
    code: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Entry:
    """One searchable alias of a place; ``alias`` is normalised, ``name`` is as spelled in the data."""

    alias: str
    name: str
    place: Place


Candidates = list[tuple[str, bool, Place]]  # (name as spelled, explicit rather than derived, place)


class Gazetteer:
    """Aliases sorted so that the first one found in a text is the winner."""

    def __init__(self, candidates: Candidates) -> None:
        """Keep the unambiguous aliases, best first: by tier, then the longer alias, then the code; and
        index them by their first two characters (every alias has at least ``MIN_STEM``)."""
        entries = _disambiguate(candidates)
        entries.sort(key=lambda e: (SOURCES[e.place.source][0], -len(e.alias), e.place.code, e.alias))
        self.entries: tuple[Entry, ...] = tuple(entries)
        by_head: dict[str, list[int]] = defaultdict(list)
        for rank, entry in enumerate(self.entries):
            by_head[entry.alias[:MIN_STEM]].append(rank)  # in rank order
        self._by_head = dict(by_head)

    def __len__(self) -> int:
        return len(self.entries)

    def resolve(self, text: str) -> GazetteerMatch | None:
        """Return the best match in ``text``, or ``None`` when no alias occurs in it.

        An alias that occurs in the text begins with one of the text's pairs of characters: only the
        aliases under those pairs are tried, best first, and a pair's list is left at the first alias
        found or at the rank of the best found so far. The answer is ``resolve_scan``'s (a test keeps
        them equal): a city's gazetteer holds tens of thousands of aliases, the text a few dozen pairs."""
        query = normalise(text or "")
        best = len(self.entries)
        for head in {query[i:i + MIN_STEM] for i in range(len(query) - MIN_STEM + 1)}:
            for rank in self._by_head.get(head, ()):
                if rank >= best:
                    break
                if _occurs(self.entries[rank].alias, query):
                    best = rank
                    break
        return _match(self.entries[best]) if best < len(self.entries) else None

    def resolve_scan(self, text: str) -> GazetteerMatch | None:
        """Return ``resolve``'s answer by trying every alias in order (the reference path)."""
        query = normalise(text or "")
        for entry in self.entries if query else ():
            if _occurs(entry.alias, query):
                return _match(entry)
        return None


def _match(entry: Entry) -> GazetteerMatch:
    _, kind, precision = SOURCES[entry.place.source]
    return GazetteerMatch(lon=entry.place.lon, lat=entry.place.lat, matched=entry.name, kind=kind,
                          precision=precision)


def normalise(text: str) -> str:
    """Return ``text`` with full-width forms folded (NFKC), whitespace removed, latin upper-cased."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text)).upper()


def _is_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _occurs(alias: str, query: str) -> bool:
    """Return whether ``alias`` occurs in ``query``; latin/digit edges must not touch latin/digits."""
    start = query.find(alias)
    check_head, check_tail = _is_word(alias[0]), _is_word(alias[-1])
    if not (check_head or check_tail):
        return start >= 0
    while start >= 0:
        end = start + len(alias)
        head_ok = not check_head or start == 0 or not _is_word(query[start - 1])
        tail_ok = not check_tail or end == len(query) or not _is_word(query[end])
        if head_ok and tail_ok:
            return True
        start = query.find(alias, start + 1)
    return False


def _disambiguate(candidates: Candidates) -> list[Entry]:
    """Return one entry per alias: explicit names beat derived forms, then the better tier;
    an alias still claimed by two places is dropped."""
    claims: dict[str, list[tuple[int, int, Place, str]]] = defaultdict(list)
    for name, explicit, place in candidates:
        alias = normalise(name)
        if len(alias) >= MIN_STEM and not alias.isdigit():  # "001" is a house number, not a place
            claims[alias].append((0 if explicit else 1, SOURCES[place.source][0], place, name))
    entries = []
    for alias, claimed in claims.items():
        best = min((strength, tier) for strength, tier, _, _ in claimed)
        winners = {(p.source, p.code): (p, name) for s, t, p, name in claimed if (s, t) == best}
        if len(winners) == 1:
            place, name = next(iter(winners.values()))
            entries.append(Entry(alias=alias, name=name, place=place))
    return entries


def _strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    """Return ``name`` without the first of ``suffixes`` it ends with."""
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _cn_number(n: int) -> str:
    """Return 1..99 in Chinese numerals (12 -> 十二, 20 -> 二十)."""
    tens, units = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十")
    return head + (_CN_DIGITS[units] if units or not head else "")


def _point(geom) -> tuple[float, float]:
    """Return (lon, lat) of a GEOS point."""
    return float(geom.x), float(geom.y)


def _village_forms(village: Village) -> set[str]:
    """Return the name, the official name, the bare stem and stem + 社区/居委会/村/村委会 ..."""
    forms = {village.name, village.official_name} - {""}
    stem = _strip_suffix(_strip_suffix(village.name, VILLAGE_SUFFIXES), VILLAGE_SUFFIXES)
    if len(stem) >= MIN_STEM:
        forms |= {stem} | {stem + suffix for suffix in VILLAGE_FORMS}
    return forms


def _town_prefixes(towns: list[Town]) -> list[tuple[str, str]]:
    """Return (town name, town stem) pairs, e.g. (公道镇, 公道)."""
    pairs = [(t.name, _strip_suffix(t.name, TOWN_SUFFIXES)) for t in towns]
    return [(name, stem) for name, stem in pairs if len(stem) >= MIN_STEM and stem != name]


def _landmark_variants(name: str, towns: list[tuple[str, str]]) -> set[str]:
    """Return ``name`` spelled with the town's full name or its stem (公道镇卫生院 / 公道卫生院)."""
    variants = {name}
    for full, stem in towns:
        if name.startswith(full):
            variants.add(stem + name[len(full):])
        elif name.startswith(stem):
            variants.add(full + name[len(stem):])
    return variants


def _grid_names(grid: Grid, towns: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    """Return (name, explicit) aliases of a grid: its name and derived spellings."""
    names, village = [(grid.name, True)], grid.village
    if grid.kind == Grid.Kind.DEDICATED:
        core = _strip_suffix(grid.name, DEDICATED_SUFFIXES)
        derived = _landmark_variants(core, towns)
        rest = core[len(village.name):]
        if core.startswith(village.name) and len(rest) >= MIN_LANDMARK_REST:
            derived.add(rest)
        return names + [(n, False) for n in derived]
    if grid.name.startswith(village.name):
        rest = grid.name[len(village.name):]
        spelled = {rest, _GRID_NUMBER.sub(lambda m: f"第{_cn_number(int(m.group(1)))}网格", rest)}
        names += [(form + r, False) for form in _village_forms(village) for r in spelled]
    return names


def _town_candidates(towns: list[Town]) -> Candidates:
    """Return the towns' names and stems (公道镇, 公道)."""
    out: Candidates = []
    for t in towns:
        place = Place("town", t.code, *_point(t.pos))
        out += [(t.name, True, place)] + [(stem, False, place) for _, stem in _town_prefixes([t])]
    return out


def _village_candidates(towns: list[Town]) -> Candidates:
    """Return the villages' names, official names and derived forms."""
    out: Candidates = []
    villages = Village.objects.filter(town__in=towns).defer("boundary").annotate(pos=PointOnSurface("boundary"))
    for v in villages:
        place = Place("village", v.code, *_point(v.pos))
        out += [(name, name in (v.name, v.official_name), place) for name in _village_forms(v)]
    return out


def _grid_candidates(town: Town | None, prefixes: list[tuple[str, str]]) -> Candidates:
    """Return the names of the grids of the active generation(s)."""
    out: Candidates = []
    grids = (Grid.objects.active(town).select_related("village").defer("boundary", "village__boundary")
             .annotate(pos=PointOnSurface("boundary")))
    for g in grids:
        place = Place(g.kind, g.code, *_point(g.pos))
        out += [(name, explicit, place) for name, explicit in _grid_names(g, prefixes)]
    return out


def _camera_candidates(town: Town | None, prefixes: list[tuple[str, str]]) -> Candidates:
    """Return camera codes and names (standing in ``town`` when one is given)."""
    out: Candidates = []
    cameras = Camera.objects.defer("sector")
    if town is not None:
        cameras = cameras.filter(location__coveredby=town.boundary)
    for c in cameras:
        place = Place("camera", c.code, *_point(c.location))
        out += [(c.code, True, place), (c.name, True, place)]
        out += [(name, False, place) for name in _landmark_variants(c.name, prefixes) - {c.name}]
    return out


def _collect(town: Town | None) -> Candidates:
    """Return every (name, explicit, place) candidate of the town (or of every town)."""
    towns = Town.objects.filter(pk=town.pk) if town is not None else Town.objects.all()
    towns = list(towns.defer("boundary").annotate(pos=PointOnSurface("boundary")))
    prefixes = _town_prefixes(towns)
    return (_town_candidates(towns) + _village_candidates(towns)
            + _grid_candidates(town, prefixes) + _camera_candidates(town, prefixes))


_lock = threading.Lock()
_cache: dict[int | None, tuple[tuple[int, ...], Gazetteer]] = {}


def _generation_key(town: Town | None) -> tuple[int, ...]:
    """Return the ids of the active generations the gazetteer depends on."""
    generations = BoundaryGeneration.objects.filter(status=BoundaryGeneration.Status.ACTIVE)
    if town is not None:
        generations = generations.filter(town=town)
    return tuple(generations.order_by("pk").values_list("pk", flat=True))


def build_gazetteer(town: Town | None = None) -> Gazetteer:
    """Return the gazetteer of ``town`` (default: every town), built once per active generation.

    Call ``invalidate_gazetteer()`` after villages, grid names or cameras change in place.
    """
    slot, key = (town.pk if town is not None else None), _generation_key(town)
    with _lock:
        cached = _cache.get(slot)
    if cached is not None and cached[0] == key:
        return cached[1]
    gazetteer = Gazetteer(_collect(town))
    with _lock:
        _cache[slot] = (key, gazetteer)
    return gazetteer


def invalidate_gazetteer() -> None:
    """Forget every cached gazetteer."""
    with _lock:
        _cache.clear()


def resolve_address(text: str, *, town: Town | None = None) -> GazetteerMatch | None:
    """Resolve an address text to a point (EPSG:4326), or return ``None`` when nothing matches."""
    if not text or not normalise(text):
        return None
    return build_gazetteer(town).resolve(text)
