"""README command 1's demo with the checkpoints the repo ships, clicked through in headless chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_asr_space import MANIFEST as ASR_MANIFEST
from .test_asr_space import open_asr
from .test_separation_browser import ESTIMATE, open_separation
from .test_speaker_browser import EXAMPLES as SPEAKER_EXAMPLES
from .test_speaker_browser import MANIFEST, open_tab, upload

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_shipped_checkpoints_are_in_the_repo():
    for name in (
        "convtasnet-zoo-2mix-8k", "convtasnet-zoo-2mix-8k-stage2", "convtasnet-zoo-2mix-8k-stage3", "convtasnet-zoo-2mix-8k-stage4", "convtasnet-zoo-2mix-8k-stage5",
        "convtasnet-zoo-2mix-8k-stage7", "convtasnet-zoo-2mix-8k-gpu", "convtasnet-zoo-2mix-8k-gpu2",
        "sepformer-zoo-2mix-8k", "sepformer-zoo-2mix-8k-stage2",
        "dprnn-zoo-2mix-8k", "ctc-conformer-zoo-16k-stage2", "ctc-conformer-zoo-16k-stage3",
        "convtasnet-zoo-3mix-8k", "sisnr-estimator-zoo-8k", "ecapa-tdnn-zoo-16k", "ecapa-tdnn-zoo-16k-stage2", "xvector-zoo-16k",
    ):
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


def test_shipped_sepformer_and_three_speaker_model(browser, shipped_demo_url):
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(shipped_demo_url)
        open_separation(page)
        page.get_by_text("mix_male_female.wav", exact=True).click()
        page.locator("#separation-input audio[src]").first.wait_for(state="attached")
        page.locator("#separation-model").get_by_text("Sepformer", exact=True).click()
        page.locator("#separation-button").click()
        page.locator("#source-2-audio audio[src]").first.wait_for(state="attached")

        page.get_by_role("tab", name="3-speaker separation").click()
        page.get_by_text("3spk_three_voices.wav", exact=True).click()
        page.locator("#separation3-input audio[src]").first.wait_for(state="attached")
        page.locator("#separation3-button").click()
        page.locator("#source3-3-audio audio[src]").first.wait_for(state="attached")
    finally:
        context.close()


def test_shipped_speaker_model_recognises_an_unseen_voice(browser, shipped_demo_url):
    """Enroll the ten bundled voices (first clips), then verify the second clip of the first voice."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(shipped_demo_url)
        open_tab(page, "Enroll")
        page.locator("#enroll-examples").click()
        page.locator("#enroll-status").get_by_text("10 example voices enrolled").wait_for()
        open_tab(page, "Verify")
        upload(page, "verify-audio", SPEAKER_EXAMPLES / MANIFEST["clips"][1]["file"])
        page.locator("#verify-audio audio[src]").first.wait_for(state="attached")
        page.locator("#verify-button").click()
        page.locator("#verify-result").get_by_text("Best match").wait_for()
        result = page.locator("#verify-result").inner_text()
        assert f"Accepted as {MANIFEST['clips'][0]['name']}" in result, result
    finally:
        context.close()


@pytest.mark.skipif(
    not (REPO_ROOT / "checkpoints" / "ctc-conformer-zoo-16k-stage18").is_dir(), reason="checkpoints/ctc-conformer-zoo-16k-stage18 is not shipped"
)
def test_shipped_ctc_transcribes_a_bundled_example(browser, shipped_demo_url):
    """The ASR Space's first example through the shipped CTC model: a transcript, its WER and CER (under a loose
    bound), a plot."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(shipped_demo_url)
        open_asr(page)
        clip = ASR_MANIFEST["clips"][0]
        page.get_by_text(clip["name"], exact=True).click()
        page.locator("#asr-input audio[src]").first.wait_for(state="attached")
        page.locator("#asr-model").get_by_text("CTC (greedy)", exact=True).click()
        page.locator("#asr-button").click()
        page.locator("#asr-summary").get_by_text("WER").wait_for()
        summary = page.locator("#asr-summary").inner_text()
        char_error_rate = float(re.search(r"CER (\d+\.\d) %", summary).group(1))
        assert char_error_rate < 60.0, summary  # loose: the shipped model is small; its card holds the real error rates
        assert page.locator("#asr-transcript textarea").input_value().strip()
        assert page.locator("#asr-plot img").evaluate("img => img.complete && img.naturalWidth") >= 800
    finally:
        context.close()
