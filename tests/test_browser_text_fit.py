"""The browser player in Debian's headless Chromium: every script a notice can be written
in is drawn with the fonts the CMS serves (no missing glyph, shaped), and the demo's
longest notice fits every layout at its orientation: nothing overflows its zone, and all
of the text is shown over the pages it turns within the item's time."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from typing import Any

from content.layouts import LAYOUTS
from signage.demo import _poster, tax_notice_texts

from .browser import Page
from .conftest import LiveServer, Staff
from .players.test_text_fit import SAMPLES

SIZES = {"landscape": [(1920, 1080), (1280, 720)], "portrait": [(1080, 1920)]}
LANGUAGES = ["ja", "en", "zh-Hans", "ko", "pt", "vi"]  # the demo site's, in its order
SECONDS = 15  # each language view of the notice, as in the demo's playlist
MIN_FIT = 0.55

# The family the CMS's CSS names for a language, and the font file's own family name.
FACES = {
    "ja": ("Signage JP", "Noto Sans JP"),
    "zh-Hans": ("Signage SC", "Noto Sans SC"),
    "zh-Hant": ("Signage TC", "Noto Sans TC"),
    "ko": ("Signage KR", "Noto Sans KR"),
    "ne": ("Signage Devanagari", "Noto Sans Devanagari"),
    "th": ("Signage Thai", "Noto Sans Thai"),
    "my": ("Signage Myanmar", "Noto Sans Myanmar"),
}
LATIN = ("Signage Latin", "Noto Sans")


def _site(staff: Staff) -> int:
    staff.post(
        "/sites",
        {
            "code": "honcho",
            "name": "本庁舎",
            "timezone": "Asia/Tokyo",
            "languages": LANGUAGES,
            "active": "1",
        },
        page="/sites",
    )
    match = re.search(r'/sites/(\d+)"', staff.http.get("/sites").text)
    assert match
    return int(match.group(1))


def _picture(staff: Staff) -> int:
    boundary = "----text-fit-test"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="calendar.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
        + _poster("calendar")
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = staff.http.post(
        "/media",
        content=body,
        headers={
            "X-CSRF-Token": staff.token("/media"),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 303, response.text[-500:]
    match = re.search(
        r'<option value="(\d+)" *>calendar\.png</option>', staff.http.get("/notices/new").text
    )
    assert match
    return int(match.group(1))


def _notice(staff: Staff, picture: int, repeat: int = 1) -> int:
    fields: dict[str, str] = {"image_id": str(picture), "style": "important"}
    for text in tax_notice_texts(date(2026, 12, 10)):
        fields[f"title_{text.language}"] = text.title
        fields[f"body_{text.language}"] = "\n\n".join([text.body] * repeat)
    return staff.notice(fields.pop("title_ja"), **fields)


def _viewport(page: Page, width: int, height: int) -> None:
    page.send(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )


def _set_layout(staff: Staff, screen_id: int, site_id: int, playlist: int, layout: str) -> None:
    staff.post(
        f"/screens/{screen_id}",
        {
            "name": "1F ロビー",
            "site_id": str(site_id),
            "layout": layout,
            "default_playlist_id": str(playlist),
            "groups": "",
        },
        page=f"/screens/{screen_id}",
    )


def _groups(wide: bool) -> list[list[str]]:
    if wide:
        return [["ja", other] for other in LANGUAGES[1:]]
    return [[code] for code in LANGUAGES]


# Moves the player's clock to `seconds` into the notice's cycle (from the start of the
# main zone's slot, as the player counts) and shows that moment.
_AT = """(function (seconds, cycle) {
  var now = Date.now() + signagePlayer.state.offset;
  var start = Date.UTC(2000, 0, 1);
  (signagePlayer.state.manifest.timeline.main || []).forEach(function (slot) {
    if (new Date(slot.start) <= now && now < new Date(slot.end)) {
      start = new Date(slot.start).getTime();
    }
  });
  var target = start + Math.floor((now - start) / 1000 / cycle) * cycle * 1000 + seconds * 1000;
  signagePlayer.state.offset = target - Date.now();
  signagePlayer.show();
  return true;
})(%s, %s)"""

# Where each line of the notice's text lies: on which page, and whether it lies wholly
# inside its text box on that page (and the text box inside the zone).
_MEASURE = """(function () {
  var zone = document.querySelector('[data-zone="main"]');
  var view = zone.lastChild;
  var article = view.querySelector('article.notice');
  if (!article || !article.hasAttribute('data-pages')) { return null; }
  var zr = zone.getBoundingClientRect();
  var out = {fit: Number(article.getAttribute('data-fit')),
             pages: Number(article.getAttribute('data-pages')),
             page: Number(article.getAttribute('data-page')),
             languages: [], problems: [], lines: 0, text: [],
             overflow: article.scrollHeight - article.clientHeight};
  var image = article.querySelector('.notice-image');
  if (image) {
    var ir = image.getBoundingClientRect();
    if (ir.bottom > zr.bottom + 1 || ir.right > zr.right + 1) { out.problems.push('picture'); }
  }
  article.querySelectorAll('.notice-text').forEach(function (block) {
    out.languages.push(block.lang);
    var br = block.getBoundingClientRect();
    if (br.top < zr.top - 1 || br.bottom > zr.bottom + 1
        || br.left < zr.left - 1 || br.right > zr.right + 1) {
      out.problems.push(block.lang + ': text box outside its zone');
    }
    var flow = block.querySelector('.notice-flow');
    var fr = flow.getBoundingClientRect();
    var width = flow.clientWidth;
    var step = width + parseFloat(getComputedStyle(flow).columnGap);
    var current = Math.round((br.left - fr.left) / step);
    out.text.push(flow.textContent);
    var walker = document.createTreeWalker(flow, NodeFilter.SHOW_TEXT);
    var node, inView = 0;
    while ((node = walker.nextNode())) {
      if (!node.textContent.trim()) { continue; }
      var range = document.createRange();
      range.selectNodeContents(node);
      // A text rect is the font's ascent to descent; its line box is line-height tall.
      var lineHeight = parseFloat(getComputedStyle(node.parentElement).lineHeight);
      Array.prototype.forEach.call(range.getClientRects(), function (r) {
        if (r.width < 1) { return; }
        out.lines += 1;
        var x = r.left - fr.left;
        var page = Math.floor((x + 1) / step);
        var middle = (r.top + r.bottom) / 2;
        var top = middle - lineHeight / 2, bottom = middle + lineHeight / 2;
        var inside = x + r.width - page * step <= width + 1
          && top >= br.top - 1 && bottom <= br.bottom + 1;
        if (page >= out.pages || !inside) {
          out.problems.push(block.lang + ': "' + node.textContent.slice(0, 20) + '" page '
            + page + ' ' + JSON.stringify([r.left, top, r.right, bottom])
            + ' box ' + JSON.stringify([br.left, br.top, br.right, br.bottom]));
        }
        // On the page in view, the line is within the zone on screen.
        if (page === current && (r.left < br.left - 1 || r.right > br.right + 1)) {
          out.problems.push(block.lang + ': the page in view shows a line cut off');
        }
        if (page === current) { inView += 1; }
      });
    }
    if (!inView) { out.problems.push(block.lang + ': an empty page in view'); }
  });
  return out;
})()"""


def _check_every_view(page: Page, where: str, wide: bool, pages_expected: bool) -> int:
    groups = _groups(wide)
    cycle = SECONDS * len(groups)
    most = 1
    for index, group in enumerate(groups):
        page.eval(_AT % (index * SECONDS + 0.5, cycle))
        languages = json.dumps(group, separators=(",", ":"))
        measured: Any = page.wait_for(
            f"(function () {{ var m = {_MEASURE}; "
            f"return m && JSON.stringify(m.languages) === {json.dumps(languages)} "
            "&& document.fonts.status === 'loaded' ? m : null; })()",
            timeout=15,
        )
        time.sleep(0.1)  # a refit after the last font arrived
        measured = page.eval(_MEASURE)
        label = f"{where} {group}"
        assert measured["languages"] == group, label
        assert measured["fit"] >= MIN_FIT - 1e-6, label
        assert measured["lines"] > 0, label
        assert not measured["problems"], f"{label}: {measured['problems'][:3]}"
        assert measured["overflow"] <= 1, f"{label}: the notice is taller than its zone"
        # Each page is in view in turn within the view's time.
        for number in range(measured["pages"]):
            share = SECONDS / measured["pages"]
            page.eval(_AT % (index * SECONDS + (number + 0.5) * share, cycle))
            if number:
                time.sleep(0.7)  # the page slides in over 0.6 s
            turned = page.eval(_MEASURE)
            assert turned["page"] == number, label
            assert not turned["problems"], f"{label} page {number}: {turned['problems'][:3]}"
        most = max(most, measured["pages"])
    if not pages_expected:
        assert most == 1, f"{where}: the demo's notice fits on one page"
    return most


def test_the_demos_longest_notice_fits_every_layout_and_long_text_turns_pages(
    live_server: LiveServer, staff: Staff, browser: Page
) -> None:
    page = browser
    site_id = _site(staff)
    picture = _picture(staff)
    notice = _notice(staff, picture)
    playlist = staff.playlist([notice], seconds=SECONDS)
    page.goto(live_server.url + "/player")
    code = page.wait_for("document.getElementById('pairing-code').textContent", timeout=15)
    screen_id = staff.pair(code, site_id)
    checked = []
    for layout in LAYOUTS.values():
        notice_zones = [z for z in layout.zones if z.kind == "main"]
        if not notice_zones:
            # The queue board layout shows only the board and a ticker line.
            assert layout.key == "queue"
            continue
        (main,) = notice_zones
        _set_layout(staff, screen_id, site_id, playlist, layout.key)
        page.wait_for(
            f"document.getElementById('stage').className.indexOf('layout-{layout.key}') >= 0",
            timeout=15,
        )
        wide = layout.orientation == "landscape" and main.width >= 0.6
        for width, height in SIZES[layout.orientation]:
            _viewport(page, width, height)
            _check_every_view(page, f"{layout.key} {width}x{height}", wide, False)
            checked.append((layout.key, width))
    assert len(checked) == 7

    # Five times the text: the smallest legible type, then pages that show all of it.
    longer = _notice(staff, picture, repeat=5)
    playlist = staff.playlist([longer], name="長い案内", seconds=SECONDS)
    _set_layout(staff, screen_id, site_id, playlist, "counter")
    _viewport(page, 1280, 720)
    page.wait_for(
        "(function () { var a = document.querySelector('[data-zone=main] .view:last-child "
        f"article.notice'); return a && a.getAttribute('data-notice') === '{longer}'; }})()",
        timeout=15,
    )
    assert _check_every_view(page, "counter 1280x720 long", True, True) > 1
    page.drain()
    assert not [e for e in page.errors if "Content Security Policy" in e], page.errors


# Which fonts draw an element's text, by Chromium's own account.
def _platform_fonts(page: Page, selector: str) -> list[dict[str, Any]]:
    root = page.send("DOM.getDocument")["root"]["nodeId"]
    node = page.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
    fonts: list[dict[str, Any]] = page.send("CSS.getPlatformFontsForNode", nodeId=node)["fonts"]
    return fonts


def test_every_language_is_drawn_with_the_served_fonts_and_shaped(
    live_server: LiveServer, browser: Page
) -> None:
    page = browser
    page.goto(live_server.url + "/player/")
    page.wait_for("document.readyState === 'complete'")
    page.eval(
        "(function (samples) { Object.keys(samples).forEach(function (code) {"
        " var p = document.createElement('p'); p.lang = code; p.id = 'sample-' + code;"
        " p.textContent = samples[code]; document.body.appendChild(p); }); return true; })"
        f"({json.dumps(SAMPLES, ensure_ascii=False)})"
    )
    page.wait_for(
        "document.fonts.ready.then(function () { return document.fonts.status === 'loaded'; })",
        timeout=30,
    )
    page.send("DOM.enable")
    page.send("CSS.enable")
    for code, text in SAMPLES.items():
        fonts = _platform_fonts(page, f"#sample-{code}")
        # Every glyph comes from a font the CMS served: none is missing (a tofu box would
        # come from a font of this machine, or none).
        assert fonts and all(f["isCustomFont"] for f in fonts), (code, fonts)
        family, name = FACES.get(code, LATIN)
        assert name in {f["familyName"] for f in fonts}, (code, fonts)
        assert page.eval(f"document.fonts.check('40px \"{family}\"', {json.dumps(text)})"), code
    # Shaped: a Devanagari conjunct is one glyph, narrower than its letters side by side;
    # a Thai tone mark stacks above a vowel sign; a Myanmar medial joins its consonant.
    widths = page.eval(
        "(function () { function w(t, lang) { var s = document.createElement('span');"
        " s.lang = lang; s.style.fontSize = '40px'; s.textContent = t;"
        " document.body.appendChild(s);"
        " var r = s.getBoundingClientRect().width; s.remove(); return r; }"
        " function ascent(t) { var c = document.createElement('canvas').getContext('2d');"
        " c.font = '40px \"Signage Thai\"'; return c.measureText(t).actualBoundingBoxAscent; }"
        " return {conjunct: w('क्ष', 'ne'), parts: w('क', 'ne') + w('्', 'ne') + w('ष', 'ne'),"
        " thai: ascent('ที่'), thaiParts: ascent('ที'),"
        " myanmar: w('ကြ', 'my'), myanmarParts: w('က', 'my') + w('ြ', 'my')}; })()"
    )
    assert widths["conjunct"] < widths["parts"] * 0.8, widths
    # The tone mark stacks above the vowel sign (mark-to-mark positioning), not on it.
    assert widths["thai"] > widths["thaiParts"] + 4, widths
    assert widths["myanmar"] < widths["myanmarParts"] * 0.9, widths


def test_the_notice_form_warns_while_typing_and_shows_every_script(
    live_server: LiveServer, staff: Staff, browser: Page
) -> None:
    page = browser
    page.goto(live_server.url + "/login")
    page.fill("#f-username", "chief")
    page.fill("#f-password", "a long admin password")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for("location.pathname === '/' && document.readyState === 'complete'")
    page.goto(live_server.url + "/notices/new")
    page.fill("#f-title_ja", "納税期限")
    page.fill("#f-body_ja", "\n\n".join(["第3期の納期限は**12月10日**です。"] * 30))
    warning = page.wait_for(
        "document.querySelector('#notice-fit .banner.warn')"
        " && document.querySelector('#notice-fit').textContent",
        timeout=15,
    )
    assert "日本語" in warning and "ページ" in warning
    # Shortened, the warning goes away (the fragment keeps its id, so it updates again).
    page.fill("#f-body_ja", "第3期の納期限は**12月10日**です。")
    page.wait_for("!document.querySelector('#notice-fit .banner')", timeout=15)
    # The staff UI shows the names of Nepali, Thai and Burmese with the served fonts.
    page.send("DOM.enable")
    page.send("CSS.enable")
    for code, name in (("ne", "नेपाली"), ("th", "ไทย"), ("my", "မြန်မာ")):
        assert page.eval(
            "(function (name, id) { var found = Array.prototype.filter.call("
            " document.querySelectorAll('summary'), function (s) {"
            " return s.textContent.trim() === name; })[0];"
            " if (found) { found.id = id; } return !!found; })"
            f"({json.dumps(name)}, 'probe-{code}')"
        ), code
        page.wait_for("document.fonts.status === 'loaded'")
        fonts = _platform_fonts(page, f"#probe-{code}")
        assert fonts and all(f["isCustomFont"] for f in fonts), (code, fonts)
    page.drain()
    assert not [e for e in page.errors if "Content Security Policy" in e], page.errors
