"""Controls a child understands, on the phone page in real Chromium (360×740 and 390×844), with
the fake camera and the scripted fake engine: every control shows a word (an emoji alone may be
a box without an emoji font), no two visible controls overlap and none leaves the screen, every
text on the controls and chips passes WCAG AA against its background (from getComputedStyle:
4.5:1, or 3:1 for large text), before Start, live and during a hunt. A tap on the picture where
nothing is answers ("I'm looking…", then "Nothing there yet"); a tap on a chip says its word
slowly and shows it big."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from tests.support.browser import (
    SHOTS,
    SPEECH_AND_CHANNELS,
    phone_browser,
    said,
    wait_for,
    wait_said,
)
from tests.support.fake_engine import FakeEngine

# Every visible control (and badge): its words, its box, and each text's contrast with what is
# behind it (backgrounds composited up the tree over the page's black).
AUDIT = r"""() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat(1);
  };
  const lum = (rgb) => {
    const [r, g, b] = rgb.slice(0, 3).map(v => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const behind = (el) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.push(e);
    let colour = [0, 0, 0, 1];
    for (const e of chain.reverse()) {
      colour = over(parse(getComputedStyle(e).backgroundColor), colour);
    }
    return colour;
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const controls = [...document.querySelectorAll(
    "button, select, input, .chip, #room, #lighting, #room-words")].filter(visible);
  if (document.body.dataset.state === "live") controls.push(document.querySelector("#panel"));
  const out = [];
  for (const el of controls) {
    const r = el.getBoundingClientRect();
    const texts = [];
    for (const e of [el, ...el.querySelectorAll("*")]) {
      if (!visible(e)) continue;
      const own = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join("");
      if (!/[\p{L}\p{N}]/u.test(own)) continue;
      const s = getComputedStyle(e);
      const size = parseFloat(s.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
      texts.push({ text: own.trim(), ratio: ratio(parse(s.color), behind(e)), large,
                   opacity: opacity(e) });
    }
    let words = el.tagName === "SELECT" ? (el.selectedOptions[0] || {}).textContent || ""
      : el.tagName === "INPUT" ? el.value || el.placeholder : el.innerText;
    out.push({ id: el.id || el.className || el.tagName, tag: el.tagName, words,
               box: [r.left, r.top, r.right, r.bottom], texts });
  }
  return { controls: out, width: innerWidth, height: innerHeight,
           scroll: document.documentElement.scrollWidth };
}"""


def _check(audit: dict[str, Any], where: str) -> None:
    controls = audit["controls"]
    assert controls, where
    for c in controls:
        if c["tag"] in {"BUTTON", "SELECT", "INPUT"} or "chip" in c["id"]:
            assert any(ch.isalpha() for ch in c["words"]), f"{where}: {c['id']} shows no word"
        left, right = c["box"][0], c["box"][2]
        assert left >= -0.5 and right <= audit["width"] + 0.5, f"{where}: {c['id']} off screen"
        for t in c["texts"]:
            need = 3.0 if t["large"] else 4.5
            assert t["opacity"] > 0.99 or c["id"] == "panel", f"{where}: {c['id']} faded"
            assert t["ratio"] >= need, f"{where}: {c['id']} {t['text']!r} contrast {t['ratio']:.2f}"
    assert audit["scroll"] <= audit["width"], f"{where}: the page scrolls sideways"
    for i, a in enumerate(controls):
        for b in controls[i + 1 :]:
            (al, at, ar, ab), (bl, bt, br, bb) = a["box"], b["box"]
            inside = (al >= bl and ar <= br and at >= bt and ab <= bb) or (
                bl >= al and br <= ar and bt >= at and bb <= ab
            )
            if inside:
                continue  # a button in the panel, a chip's parts
            apart = ar <= bl + 0.5 or br <= al + 0.5 or ab <= bt + 0.5 or bb <= at + 0.5
            assert apart, f"{where}: {a['id']} {a['box']} overlaps {b['id']} {b['box']}"


# the narrowest phones we support, and a common one (the last is where taps are tried)
SIZES = ((360, 740), (390, 844))


def test_every_control_has_a_word_its_own_place_and_readable_colours(camera_clip: Path) -> None:
    engine = FakeEngine(delay_s=0.15)
    engine.show("cat", "cup")
    result = asyncio.run(asyncio.wait_for(_controls(engine, camera_clip), 150))
    assert result["errors"] == [], result["errors"]


async def _settled(page: Page) -> dict[str, Any]:
    await asyncio.sleep(0.6)  # the chips' pop and the toast's slide are over
    audit: dict[str, Any] = await page.evaluate(AUDIT)
    return audit


async def _check_sizes(page: Page, where: str) -> None:
    """The audit at every size in SIZES (one page, resized: the layout is the page's CSS)."""
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        _check(await _settled(page), f"{(width, height)} {where}")


async def _controls(engine: FakeEngine, clip: Path) -> dict[str, Any]:
    size = SIZES[-1]
    async with phone_browser(engine, clip) as (browser, base):
        errors: list[str] = []
        context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.add_init_script(SPEECH_AND_CHANNELS)
        await page.goto(f"{base}/")
        await wait_for(page, "document.querySelector('#theme').options.length > 1")
        await _check_sizes(page, "before Start")

        await page.click("#start")
        await wait_for(page, "window.vaDebug.state === 'live'", timeout=30_000)
        await wait_for(page, "document.querySelector('#remote').videoWidth > 0", timeout=30_000)
        await wait_for(page, "document.querySelectorAll('#chips .chip').length === 2")
        await _check_sizes(page, "live")

        # longer words: French and Spanish fit too (then back to English)
        for code in ("fr", "es", "en"):
            await page.click("#language-button")
            await page.click(f"#language-list button[data-code='{code}']")
            heard = f"e.type === 'language' && e.language === '{code}'"
            await wait_for(page, f"window.vaDebug.events.some(e => {heard})")
            await page.evaluate("document.querySelector('#toast').hidden = true")
            await _check_sizes(page, f"live in {code}")

        # every chip's colours, whatever colour its thing has (the text is picked from it)
        await page.evaluate(
            """() => { for (const c of document.querySelectorAll('#chips .chip'))
                c.classList.add('chip-gone'); }"""
        )
        await _check_sizes(page, "lingering chips")

        # a tap on a chip: its word said slowly and shown big
        await page.click("#chips .chip >> nth=0")
        await page.wait_for_selector("#spell", state="visible")
        word = (await page.text_content("#spell-word") or "").strip()
        assert word in {"cat", "cup"}, word
        big = await page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('#spell-word')).fontSize)"
        )
        assert big >= 48, big
        slow = [u for u in await said(page) if u["text"] == word]
        assert slow and slow[-1]["rate"] == pytest.approx(0.6, abs=0.01), slow
        await page.click("#spell")
        await page.wait_for_selector("#spell", state="hidden")

        # during a hunt
        await page.click("#hunt-start")
        await wait_said(page, "Can you find")
        await page.wait_for_selector("#hunt", state="visible")
        await _check_sizes(page, "hunting")
        await page.screenshot(path=str(SHOTS / "phone-controls.png"))
        await page.click("#hunt-stop")
        await page.wait_for_selector("#today", state="visible")
        await page.click("#today-done")

        # a tap on the picture where nothing is: "I'm looking…", then "Nothing there yet"
        engine.show()
        await wait_for(page, "document.querySelectorAll('#chips .chip').length === 0")
        point = await page.evaluate(
            """() => { const v = document.querySelector('#remote');
                const r = v.getBoundingClientRect();
                const scale = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
                const w = v.videoWidth * scale, h = v.videoHeight * scale;
                const left = r.left + (r.width - w) / 2, top = r.top + (r.height - h) / 2;
                return [left + w * 0.1, top + h * 0.15];
            }"""
        )
        await page.mouse.click(point[0], point[1])
        await page.wait_for_selector("#tap-note", state="visible")
        assert "looking" in (await page.text_content("#tap-note") or "")
        await wait_for(page, "document.querySelector('#tap-note').textContent.includes('Nothing')")
        return {"errors": errors}
