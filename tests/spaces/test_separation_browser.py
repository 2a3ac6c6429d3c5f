"""The separation Space, served by `zoo demo`, driven in headless chromium: separate an example, refuse bad files."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SPACES_DIR = Path(__file__).resolve().parents[2] / "spaces"

pytestmark = pytest.mark.browser

EXAMPLE = SPACES_DIR / "separation" / "examples" / "mix_male_female.wav"
ESTIMATE = re.compile(r"-?\d+\.\d dB \(estimated, no reference needed\)")  # the demo runs a tiny estimator


def open_separation(page):
    page.get_by_role("tab", name="Speech separation").click()
    page.get_by_role("tab", name="2-speaker separation").click()


def upload(page, input_id: str, path: Path) -> None:
    """Put a file into a gr.Audio input through its hidden <input type=file>, as the upload button does."""
    page.locator(f"#{input_id} input[type=file]").set_input_files(str(path))


def test_separates_an_example_mixture(page):
    open_separation(page)
    upload(page, "separation-input", EXAMPLE)
    page.locator("#separation-input audio[src]").first.wait_for(state="attached")  # the upload reached the server
    page.locator("#separation-button").click()
    page.locator("#source-2-audio audio[src]").first.wait_for(state="attached")

    for index in (1, 2):
        audio = page.locator(f"#source-{index}-audio")
        assert audio.locator("audio[src]").count() == 1
        # the player's download link points at the wav the server wrote
        assert "/gradio_api/file=" in audio.get_by_test_id("download-link").get_attribute("href")
        assert ESTIMATE.fullmatch(page.locator(f"#source-{index}-si-snr textarea").input_value())
    for image_id in ("mixture-spectrogram", "source-1-spectrogram", "source-2-spectrogram"):
        image = page.locator(f"#{image_id} img")
        image.wait_for()
        assert image.evaluate("img => img.complete && img.naturalWidth") > 300, image_id
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "zoo-separation-space.png"), full_page=True)


def test_bundled_example_separates(page):
    open_separation(page)
    page.get_by_text("mix_two_voices.wav", exact=True).click()
    page.locator("#separation-input audio[src]").first.wait_for(state="attached")
    page.locator("#separation-button").click()
    page.locator("#source-1-audio audio[src]").first.wait_for(state="attached")
    assert ESTIMATE.fullmatch(page.locator("#source-1-si-snr textarea").input_value())


def _text_file(folder: Path) -> Path:
    path = folder / "notes.wav"
    path.write_text("these are meeting notes, not audio\n")
    return path


def _empty_wav(folder: Path) -> Path:
    path = folder / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.int16), 8000, subtype="PCM_16")
    return path


def _long_wav(folder: Path) -> Path:
    path = folder / "long.wav"
    sf.write(path, np.zeros(61 * 8000, dtype=np.int16), 8000, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    "make_file, expected",
    [
        (_text_file, "could not read 'notes.wav'"),
        (_empty_wav, "mixture is empty (0 samples)"),
        (_long_wav, "mixture is 61.0 s long, over the 60.0 s limit"),
    ],
    ids=["text-named-wav", "empty-wav", "over-limit"],
)
def test_bad_file_shows_the_audio_error(page, tmp_path, make_file, expected):
    open_separation(page)
    upload(page, "separation-input", make_file(tmp_path))
    page.locator("#separation-input audio[src]").first.wait_for(state="attached")
    page.locator("#separation-button").click()
    toast = page.locator(".toast-body")
    toast.first.wait_for()
    text = toast.first.inner_text()
    assert expected in text
    assert "Traceback" not in text


def test_enhancement_tab_enhances(page):
    page.get_by_role("tab", name="Speech separation").click()  # the demo may open on another Space's tab
    page.get_by_role("tab", name="Enhancement").click()
    upload(page, "enhancement-input", EXAMPLE)
    page.locator("#enhancement-input audio[src]").first.wait_for(state="attached")
    page.locator("#enhancement-button").click()
    page.locator("#enhancement-audio audio[src]").first.wait_for(state="attached")
    assert page.locator("#enhancement-spectrogram img").count() == 1
