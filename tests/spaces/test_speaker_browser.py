"""The speaker-verification Space, served by `zoo demo` with tiny random checkpoints, driven in headless chromium:
enroll -> verify, the leaderboard, a diarization upload, and a refused request."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

SPACE_DIR = Path(__file__).resolve().parents[2] / "spaces" / "speaker-verification"
EXAMPLES = SPACE_DIR / "examples"
MANIFEST = json.loads((EXAMPLES / "examples.json").read_text())

pytestmark = pytest.mark.browser


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name="Speaker verification", exact=True).click()
    page.get_by_role("tab", name=name, exact=True).click()


def upload(page, input_id: str, *paths: Path) -> None:
    """Put files into a gr.Audio / gr.File input through its hidden <input type=file>, as the upload button does."""
    page.locator(f"#{input_id} input[type=file]").set_input_files([str(p) for p in paths])


def test_enroll_then_verify(page):
    first, second = MANIFEST["clips"][0], MANIFEST["clips"][1]  # two clips of one voice
    open_tab(page, "Enroll")
    page.locator("#enroll-name textarea, #enroll-name input").first.fill("Alice")
    upload(page, "enroll-files", EXAMPLES / first["file"])
    page.locator(f'#enroll-files [aria-label="{first["file"]}"]').wait_for()  # the upload reached the server
    page.locator("#enroll-button").click()
    page.locator("#enroll-status").get_by_text("1 clip enrolled Alice").wait_for()
    # (gr.Dataframe renders a cell's text more than once: count at least one)
    assert page.locator("#enrolled-table").get_by_text("Alice", exact=True).count() >= 1

    page.locator("#enroll-examples").click()  # ten more voices, from their first clips
    page.locator("#enroll-status").get_by_text("10 example voices enrolled").wait_for()
    assert page.locator("#enrolled-table").get_by_text(MANIFEST["clips"][2]["name"], exact=True).count() >= 1

    open_tab(page, "Verify")
    upload(page, "verify-audio", EXAMPLES / second["file"])
    page.locator("#verify-audio audio[src]").first.wait_for(state="attached")
    page.locator("#verify-button").click()
    page.locator("#verify-result").get_by_text("Best match").wait_for()
    result = page.locator("#verify-result").inner_text()
    assert "threshold 0.50 (the model's calibrated threshold)" in result
    assert ("Accepted as" in result) or ("Not any enrolled speaker" in result)
    scores = page.locator("#verify-scores")
    scores.get_by_text("Alice", exact=True).first.wait_for()
    assert scores.get_by_text(MANIFEST["clips"][2]["name"], exact=True).count() >= 1
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "zoo-speaker-verify.png"), full_page=True)


def test_verify_with_nobody_enrolled_shows_the_error(page):
    open_tab(page, "Verify")
    upload(page, "verify-audio", EXAMPLES / MANIFEST["clips"][1]["file"])
    page.locator("#verify-audio audio[src]").first.wait_for(state="attached")
    page.locator("#verify-button").click()
    toast = page.locator(".toast-body")
    toast.first.wait_for()
    text = toast.first.inner_text()
    assert "nobody is enrolled yet" in text and "Traceback" not in text


def test_diarizes_an_uploaded_conversation(page):
    open_tab(page, "Diarization")
    upload(page, "diarization-audio", EXAMPLES / MANIFEST["conversation"]["file"])
    page.locator("#diarization-audio audio[src]").first.wait_for(state="attached")
    page.locator("#diarization-button").click()
    page.locator("#diarization-summary").get_by_text("speaker(s) in 14.8 s").wait_for()
    image = page.locator("#diarization-timeline img")
    image.wait_for()
    assert image.evaluate("img => img.complete && img.naturalWidth") > 300
    assert page.locator("#diarization-segments").get_by_text("SPEAKER_00", exact=True).count() >= 1
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "zoo-speaker-diarization.png"), full_page=True)


def test_leaderboard_lists_both_models(page):
    open_tab(page, "Leaderboard")
    table = page.locator("#leaderboard-table")
    expect(table).to_contain_text("ecapa_tdnn", timeout=120_000)  # computed the first time the tab opens
    expect(table).to_contain_text("xvector")
    expect(table).to_contain_text("uncalibrated")  # the tiny x-vector has no threshold
    image = page.locator("#leaderboard-det img")
    image.wait_for()
    assert image.evaluate("img => img.complete && img.naturalWidth") > 300
    assert "10 target and 180 non-target trials" in page.locator("#leaderboard-note").inner_text()
