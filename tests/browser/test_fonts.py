"""Chinese text renders in a CJK font on every page, for every role that sees it, even in a browser with no
CJK font of its own (the test Chromium has none): Chromium itself says, through the DevTools protocol,
which platform fonts drew the text of each element whose own text holds Chinese characters, and one of
them must have the glyphs (the bundled Noto Sans SC, or a system CJK family); otherwise those characters
were drawn as boxes."""
from __future__ import annotations

import re

import pytest

from grids.models import Grid
from tests.browser.conftest import login
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 15_000

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
CJK_FONT = re.compile(r"Noto Sans SC|CJK|Source Han|WenQuanYi|PingFang|Hiragino|YaHei|Sim(Sun|Hei)|Droid Sans Fallback|"
                      r"AR PL|Heiti|Songti|Noto Sans Mono CJK", re.IGNORECASE)
SHOWN = "function () { return this.getClientRects().length > 0 && this.checkVisibility(); }"
NOT_RENDERED = {"HEAD", "SCRIPT", "STYLE", "TEMPLATE", "NOSCRIPT", "TITLE", "OPTION", "OPTGROUP"}

# The page, what says it is ready, and who may see it (demo logins: gridops/demo_users.py).
PAGES = {
    "/accounts/login/": "form.login-box",
    "/map/": "#map[data-loaded=true]",
    "/command/": "#map[data-loaded=true]",
    "/my/": "#map[data-loaded=true]",
    "/review/": "body[data-review=ready]",
    "/planner/": "body[data-planner=ready]",
}
ROLES = {
    None: ["/accounts/login/"],  # the only page open without a login (issue 11)
    ("operator", "gongdao-operator"): ["/command/", "/review/", "/map/"],
    ("leader", "gongdao-leader"): ["/review/", "/command/", "/map/"],
    ("planner", "gongdao-planner"): ["/planner/", "/command/", "/map/"],
    ("gridleader", "gongdao-gridleader"): ["/my/", "/map/"],
    ("gridworker", "gongdao-gridworker"): ["/my/", "/map/"],
    ("admin", "gongdao-admin"): ["/planner/", "/command/", "/review/"],
}


def _describe(node: dict, path: list[str]) -> str:
    attrs = dict(zip(node.get("attributes", [])[::2], node.get("attributes", [])[1::2], strict=True))
    name = node["localName"] + (f"#{attrs['id']}" if attrs.get("id") else "") + \
        "".join(f".{c}" for c in attrs.get("class", "").split())
    return " > ".join(path[-2:] + [name])


def _cjk_elements(root: dict):
    """Yield (node, own text, where) for every element whose direct text nodes hold CJK characters,
    in the document and in shadow roots (the text a select or a placeholder shows lives in one)."""
    stack = [(root, [])]
    while stack:
        node, path = stack.pop()
        if node.get("nodeName") in NOT_RENDERED:
            continue
        children = node.get("children", []) + node.get("shadowRoots", [])
        if node.get("nodeType") == 1:
            text = " ".join(c["nodeValue"] for c in node.get("children", []) if c.get("nodeType") == 3).strip()
            if CJK.search(text):
                yield node, text, _describe(node, path)
            path = path + [node["localName"]]
        stack.extend((child, path) for child in children)


# Until the fonts settle: a piece of Noto Sans SC is asked for only when laid-out text needs it, so wait
# for frames in which no font is loading (document.fonts.ready alone resolves before the first layout).
SETTLE_FONTS = """async () => {
  for (let quiet = 0; quiet < 3;) {
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)));
    if (document.fonts.status === "loading") { quiet = 0; await document.fonts.ready; } else { quiet += 1; }
  }
}"""


def _fonts_of(cdp, node_id: int) -> list[dict] | None:
    """Return the platform fonts that drew the node's own text, [] when it is not shown, None when it is gone."""
    try:
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node_id})["fonts"]
        if fonts:
            return fonts
        obj = cdp.send("DOM.resolveNode", {"nodeId": node_id})["object"]
        shown = cdp.send("Runtime.callFunctionOn", {"objectId": obj["objectId"], "returnByValue": True,
                                                    "functionDeclaration": SHOWN})["result"].get("value")
    except Exception as exc:  # the page replaced the element meanwhile (a list re-rendered)
        if "find node" in str(exc):
            return None
        raise
    return [{"familyName": "(nothing drawn)", "glyphCount": 0}] if shown else []


def _untyped_cjk(page) -> tuple[int, list[str]]:
    """Return how many rendered elements with Chinese text were checked, and those drawn without a CJK font."""
    for _ in range(3):  # again if the page replaced an element while it was checked
        page.evaluate(SETTLE_FONTS)
        cdp = page.context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        document = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
        checked, bad, gone = 0, [], False
        for node, text, where in _cjk_elements(document):
            fonts = _fonts_of(cdp, node["nodeId"])
            if fonts is None:
                gone = True
                break
            if not fonts:
                continue
            checked += 1
            if not any(CJK_FONT.search(font["familyName"]) or CJK_FONT.search(font.get("postScriptName", ""))
                       for font in fonts):
                used = ", ".join(f"{font['familyName']} ({font['glyphCount']})" for font in fonts)
                bad.append(f"{where} {text[:30]!r}: {used}")
        cdp.detach()
        if not gone:
            return checked, bad
    raise AssertionError("the page kept replacing its elements while they were checked")


@pytest.mark.parametrize("who", list(ROLES), ids=lambda who: who[0] if who else "anonymous")
def test_chinese_text_renders_in_a_cjk_font_on_every_page(who, demo_data, asgi_server, new_page):
    first = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    incident = f.report("straw_burning", at=f.interior_point(first), title="秸秆焚烧 字体测试")
    page = new_page(width=1600, height=900)
    if who:
        login(page, asgi_server, *who, next_url="/map/")
        page.wait_for_url("**/map/", timeout=TIMEOUT)
    failures, counts = [], {}
    for path in ROLES[who]:
        page.goto(asgi_server + path)
        page.wait_for_selector(PAGES[path], timeout=TIMEOUT)
        if path == "/command/":  # the selected incident's panel: its buttons, team and timeline
            page.evaluate(f"window.gridops.select({incident.pk})")
            page.wait_for_selector("#detail .d-timeline .timeline", timeout=TIMEOUT)
        if path == "/my/":
            page.wait_for_selector(f"li.card[data-incident-id='{incident.pk}'] .d-actions", timeout=TIMEOUT)
        counts[path], bad = _untyped_cjk(page)
        failures += [f"{path}: {b}" for b in bad]
    assert all(counts.values()), f"no Chinese text found on some page: {counts}"
    assert not failures, "Chinese text drawn without a CJK font (boxes):\n" + "\n".join(failures)
