"""README command 1's demo with the checkpoints the repo ships, clicked through in headless chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_separation_browser import ESTIMATE, open_separation

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_shipped_checkpoints_are_in_the_repo():
    for name in ("convtasnet-zoo-2mix-8k", "sisnr-estimator-zoo-8k"):
        folder = REPO_ROOT / "checkpoints" / name
        assert (folder / "model.safetensors").exists() and (folder / "README.md").exists(), folder
        assert sum(f.stat().st_size for f in folder.iterdir()) < 10 * 2**20, f"{folder} is over 10 MB"


def test_shipped_separator_separates_a_bundled_example(browser, shipped_demo_url):
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(shipped_demo_url)
        open_separation(page)
        page.get_by_text("mix_two_voices.wav", exact=True).click()
        page.locator("#separation-input audio[src]").first.wait_for(state="attached")
        page.locator("#separation-button").click()
        page.locator("#source-2-audio audio[src]").first.wait_for(state="attached")
        for index in (1, 2):
            assert ESTIMATE.fullmatch(page.locator(f"#source-{index}-si-snr textarea").input_value())
    finally:
        context.close()
