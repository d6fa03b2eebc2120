"""The local gazetteer on the Gongdao demo data set (real names, real PostGIS)."""
from __future__ import annotations

import pytest

from cameras.models import Camera
from grids.locator import locate
from grids.models import Town
from incidents.gazetteer import (
    GazetteerMatch,
    build_gazetteer,
    invalidate_gazetteer,
    normalise,
    resolve_address,
)

pytestmark = pytest.mark.django_db

GONGDAO = "321003100"


@pytest.fixture(autouse=True)
def fresh_gazetteer():
    """Start and end every test with an empty cache (other tests create towns and generations)."""
    invalidate_gazetteer()
    yield
    invalidate_gazetteer()


def resolved(text: str, **kwargs) -> GazetteerMatch:
    """Resolve ``text`` and fail the test when nothing matches."""
    match = resolve_address(text, **kwargs)
    assert match is not None, text
    return match


def test_village_name():
    match = resolved("赤岸村")
    assert (match.matched, match.kind, match.precision) == ("赤岸村", "village", "village")
    assert locate(match.lon, match.lat).village.name == "赤岸村"


def test_official_nbs_name():
    match = resolved("花园居委会东侧")
    assert (match.matched, match.kind) == ("花园居委会", "village")
    assert locate(match.lon, match.lat).village.name == "花园社区"


def test_official_village_committee_name():
    match = resolved("三界村委会")
    assert locate(match.lon, match.lat).village.name == "三界村"


def test_bare_stem():
    match = resolved("太平")
    assert (match.kind, match.precision) == ("village", "village")
    assert locate(match.lon, match.lat).village.name == "太平村"


def test_ambiguous_stem_is_not_guessed():
    """赤岸 names both 赤岸社区 and 赤岸村: no answer rather than a guess."""
    assert resolve_address("赤岸") is None
    assert locate(*_lonlat(resolved("赤岸社区"))).village.name == "赤岸社区"


def test_grid_name_beats_village_and_town():
    match = resolved("公道镇花园社区第2网格附近")
    assert (match.matched, match.kind, match.precision) == ("花园社区第2网格", "grid", "grid")
    location = locate(match.lon, match.lat)
    assert location.grid.name == "花园社区第2网格"
    assert location.village.name == "花园社区"


def test_grid_number_in_chinese_numerals():
    match = resolved("河西村第五网格")
    assert locate(match.lon, match.lat).grid.name == "河西村第5网格"


def test_dedicated_grid_in_a_sentence_wins_over_the_village():
    match = resolved("三界村公道工业集中区北侧厂房门口有积水")
    assert (match.matched, match.kind, match.precision) == ("公道工业集中区", "grid", "landmark")
    dedicated = [g.name for g in locate(match.lon, match.lat).dedicated]
    assert "公道工业集中区专属网格" in dedicated


def test_dedicated_grid_with_town_prefix():
    for text in ("公道农贸市场门口", "公道镇农贸市场门口"):
        match = resolved(text)
        assert match.precision == "landmark"
        assert "公道农贸市场专属网格" in [g.name for g in locate(match.lon, match.lat).dedicated]


def test_camera_code():
    camera = Camera.objects.get(code="GDC005")
    for text in ("GDC005", "gdc005 摄像头附近", "ＧＤＣ００５"):
        match = resolved(text)
        assert (match.matched, match.kind, match.precision) == ("GDC005", "camera", "landmark")
        assert (match.lon, match.lat) == pytest.approx((camera.location.x, camera.location.y))


def test_camera_code_must_stand_alone():
    assert resolve_address("GDC0051") is None


def test_camera_name_beats_the_dedicated_grid_it_names():
    camera = Camera.objects.get(code="GDC004")
    match = resolved("公道工业集中区大门有车辆违停")
    assert (match.matched, match.kind) == ("公道工业集中区大门", "camera")
    assert (match.lon, match.lat) == pytest.approx((camera.location.x, camera.location.y))
    assert locate(match.lon, match.lat).grid == camera.grid


def test_full_width_digits():
    match = resolved("花园社区第２网格")
    assert locate(match.lon, match.lat).grid.name == "花园社区第2网格"


def test_whitespace_inside_the_address():
    match = resolved("河西村 某某路　12号")
    assert (match.matched, match.kind) == ("河西村", "village")
    assert locate(match.lon, match.lat).village.name == "河西村"


def test_town_is_the_last_resort():
    match = resolved("公道镇某某路88号")
    assert (match.matched, match.kind, match.precision) == ("公道镇", "town", "town")
    assert not locate(match.lon, match.lat).outside


@pytest.mark.parametrize("text", ["扬州市邗江区某某路8号", "001号", ".*", "(", "\\d+"])
def test_unknown_address(text):
    assert resolve_address(text) is None


@pytest.mark.parametrize("text", ["", "   ", "\u3000\n"])
def test_empty_address(text):
    assert resolve_address(text) is None


def test_regex_characters_are_plain_text():
    assert resolved("花园社区.*[第2网格]").matched == "花园社区"


def test_long_text_is_searched():
    text = "群众反映" + "噪音扰民，" * 200 + "地点在湖滨村滨湖风光带观景台附近"
    assert len(text) > 500
    assert resolved(text).matched == "湖滨村滨湖风光带观景台"


def test_normalise():
    assert normalise(" ｇｄｃ００５\u3000花园 ") == "GDC005花园"


def test_cache_per_town_and_invalidation():
    town = Town.objects.get(code=GONGDAO)
    gazetteer = build_gazetteer(town)
    assert build_gazetteer(town) is gazetteer
    assert len(gazetteer) > 100
    invalidate_gazetteer()
    assert build_gazetteer(town) is not gazetteer
    assert resolved("花园居委会", town=town).kind == "village"


def test_other_town_is_kept_apart(request):
    """A second town's names resolve only when it is in scope; the cache follows new generations."""
    before = build_gazetteer()
    assert resolve_address("甲村") is None
    square_town = request.getfixturevalue("square_town")  # a new town with its active generation
    assert build_gazetteer() is not before
    assert resolved("甲村").kind == "village"
    gongdao = Town.objects.get(code=GONGDAO)
    assert resolve_address("甲村", town=gongdao) is None
    assert resolve_address("乙社区", town=gongdao) is None
    match = resolved("甲村", town=square_town.town)
    assert match.kind == "village"
    assert locate(match.lon, match.lat).village.name == "甲村"
    assert resolve_address("花园社区", town=square_town.town) is None


def _lonlat(match: GazetteerMatch) -> tuple[float, float]:
    return match.lon, match.lat


def test_the_indexed_lookup_answers_as_trying_every_alias():
    """``resolve`` (aliases under the text's character pairs) against ``resolve_scan`` (every alias in
    order), on every alias alone, in a sentence, next to another (the better one must win), glued to
    latin letters and digits, cut short, and on texts that name nothing."""
    import random

    gazetteer = build_gazetteer()
    aliases = [e.alias for e in gazetteer.entries]
    rng = random.Random(7)
    texts = list(aliases)
    texts += [f"江苏省扬州市{a}东侧约50米处" for a in aliases]
    texts += [rng.choice(aliases) + "与" + rng.choice(aliases) + "交叉口" for _ in range(500)]
    texts += [f"A{a}9" for a in aliases if a[:1].isascii()] + [a[:-1] for a in aliases] + [a[1:] for a in aliases]
    texts += ["", "无此地名路88号", "公道", "GDC", "第1网格", "ＧＤＣ００５１号"]
    assert len(gazetteer) > 100
    differing = [t for t in texts if gazetteer.resolve(t) != gazetteer.resolve_scan(t)]
    assert differing == []
    assert sum(gazetteer.resolve(t) is not None for t in texts) > len(aliases)  # the texts do name places
