"""A real browser (Debian's chromium via Playwright): load the page, rate five pieces, see For you update, open a
For you card in Similar, and list the pieces of a band dragged across the style map."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium "
                                "(apt-get install chromium; .ci/run does this)")


@pytest.fixture(scope="module")
def served(sample_bundle_dir, tmp_path_factory):
    from test_app import free_port

    from jewelrec.serving.bundle import Bundle
    from jewelrec.space.ratings import RatingStore
    from jewelrec.space import SpaceService
    from jewelrec.space.ui import build_demo, launch_kwargs

    data = tmp_path_factory.mktemp("browser-data")
    service = SpaceService.start(Bundle.load(sample_bundle_dir), {"notice": "test sample"},
                                 RatingStore(data / "ratings.db"))
    demo = build_demo(service)
    demo.queue(max_size=64, default_concurrency_limit=4)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True,
                            **(launch_kwargs(data) | {"server_port": free_port()}))
    yield url, service
    demo.close()


def test_rate_see_for_you_open_a_card_in_similar_and_explore_the_map(served, tmp_path, monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, service = served
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "no-download"))  # never fetch a browser
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url, wait_until="load", timeout=30_000)
            page.get_by_role("tab", name="Rate").click()
            cards = page.locator(".piece-card")
            sync_api.expect(cards.first.locator("img")).to_be_visible(timeout=20_000)
            page.screenshot(path=tmp_path / "rate.png", full_page=True)
            status = page.locator("#rate-status")
            for slot in range(5):
                cards.nth(slot).get_by_text("★★★★★" if slot % 2 == 0 else "★★", exact=True).click()
                sync_api.expect(status).to_contain_text(f"{slot + 1} rated so far", timeout=15_000)
            rate_name = cards.nth(5).locator(".piece-name").first.inner_text().strip()
            cards.nth(5).get_by_role("button", name="More like this").click()  # a Rate card opens in Similar too
            sync_api.expect(page.locator("#similar-picker input")).to_have_value(
                re.compile(re.escape(rate_name) + r" \(.+\)"), timeout=15_000)
            page.get_by_role("tab", name="For you").click()
            note = page.locator("#foryou-note")
            sync_api.expect(note).to_contain_text("your 5 ratings", timeout=15_000)
            sync_api.expect(page.locator("#foryou-note")).not_to_contain_text("Nothing rated yet")
            page.screenshot(path=tmp_path / "for_you.png", full_page=True)

            # a For you card opens that piece in Similar, with its nearest pieces
            card = page.locator("#foryou-cards .jr-card").nth(1)
            picked = card.get_attribute("data-item")
            assert card.get_attribute("role") == "button" and "more like this" in card.get_attribute("title")
            assert card.evaluate("el => getComputedStyle(el).cursor") == "pointer"
            card.click()
            sync_api.expect(page.get_by_role("tab", name="Similar")).to_have_attribute("aria-selected", "true",
                                                                                      timeout=15_000)
            sync_api.expect(page.locator("#similar-picker input")).to_have_value(
                f"{service.names[service.bundle.index_of(picked)]} ({picked})", timeout=15_000)
            nearest = service.similar(picked, k=8)[1]["name"]
            matches = page.locator("#similar-gallery")
            sync_api.expect(matches.locator("img")).to_have_count(len(nearest), timeout=15_000)
            sync_api.expect(matches).to_contain_text(nearest.iat[0][:12], timeout=15_000)
            page.screenshot(path=tmp_path / "similar.png", full_page=True)

            # the keyboard does the same: Enter on a focused card
            page.get_by_role("tab", name="For you").click()
            other = page.locator("#foryou-cards .jr-card").nth(2)
            other.focus()
            page.keyboard.press("Enter")
            sync_api.expect(page.locator("#similar-picker input")).to_have_value(
                f"{service.names[service.bundle.index_of(other.get_attribute('data-item'))]} "
                f"({other.get_attribute('data-item')})", timeout=15_000)

            # style map: hovering a dot shows the piece's picture; dragging across it lists the pieces there
            page.get_by_role("tab", name="Explore").click()
            dots = page.locator("#style-map path[role='graphics-symbol']")
            sync_api.expect(dots.first).to_be_attached(timeout=20_000)
            dot = dots.nth(dots.count() // 2).bounding_box()
            page.mouse.move(dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
            sync_api.expect(page.locator("#vg-tooltip-element img")).to_be_visible(timeout=10_000)
            page.screenshot(path=tmp_path / "map_hover.png")
            plot = page.locator("#style-map svg").first.bounding_box()
            y = plot["y"] + plot["height"] * 0.5
            page.mouse.move(plot["x"] + plot["width"] * 0.1, y)
            page.mouse.down()
            page.mouse.move(plot["x"] + plot["width"] * 0.9, y, steps=10)
            page.mouse.up()
            sync_api.expect(page.locator("#map-note")).to_contain_text("pieces between", timeout=15_000)
            sync_api.expect(page.locator("#map-gallery img").first).to_be_visible(timeout=15_000)
            page.screenshot(path=tmp_path / "explore.png", full_page=True)
            browser_id = page.evaluate("() => JSON.stringify(localStorage)")
        finally:
            browser.close()
    for shot in ("for_you", "similar", "explore"):
        assert (tmp_path / f"{shot}.png").stat().st_size > 10_000
    import sqlite3

    rows = sqlite3.connect(service.store.path).execute("SELECT user_id, COUNT(*) FROM ratings GROUP BY user_id")
    per_user = dict(rows.fetchall())
    assert list(per_user.values()) == [5]  # one browser, five ratings, one identity
    (only_user,) = per_user
    assert only_user.startswith("browser:") and only_user.removeprefix("browser:") in browser_id
    print("screenshots in", tmp_path)
