"""The separation Space's handlers called in-process (no browser): outputs, gr.Error on bad input, optional tab."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from zoo.demo import Space, import_space

APP = Path(__file__).resolve().parents[2] / "spaces" / "separation" / "app.py"
EXAMPLE = APP.parent / "examples" / "mix_male_female.wav"


def load_app(monkeypatch, separation_model, enhancement_model="", estimator_model="", three_speaker_model=""):
    """A fresh import of app.py, which reads its model paths from the environment at import time."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ZOO_THREE_SPEAKER_MODEL", str(three_speaker_model))
    monkeypatch.setenv("ZOO_ESTIMATOR_MODEL", str(estimator_model))
    monkeypatch.setenv("ZOO_SEPARATION_MODEL", str(separation_model))
    monkeypatch.setenv("ZOO_ENHANCEMENT_MODEL", str(enhancement_model))
    return import_space(Space("separation", APP))


@pytest.fixture
def app(monkeypatch, tiny_separation_checkpoint):
    return load_app(monkeypatch, tiny_separation_checkpoint)


def test_constants(app, tiny_separation_checkpoint):
    assert app.MODEL == str(tiny_separation_checkpoint)
    assert app.HUB_MODEL == "zoo-models/convtasnet-zoo-2mix-8k-gpu2"
    assert app.MAX_SECONDS == 60
    assert app.ENHANCEMENT_MODEL is None  # "" turns the tab off
    assert [Path(p).name for p in app.EXAMPLES] == ["mix_male_female.wav", "mix_two_voices.wav"]
    assert [Path(p).name for p in app.EXAMPLES_3SPK] == ["3spk_three_voices.wav"]
    assert app.SEPARATION_MODELS == {"zoo model": str(tiny_separation_checkpoint)}
    assert app.THREE_SPEAKER_MODEL is None  # "" turns the 3-speaker tab off
    for path in app.EXAMPLES + app.EXAMPLES_3SPK:
        info = sf.info(path)
        assert info.samplerate == 8000 and 3.0 <= info.duration <= 4.0
        assert Path(path).stat().st_size < 100_000


def test_separate_an_example(app):
    mixture_image, *per_source = app.separate(str(EXAMPLE))
    assert len(per_source) == 2 * 3
    assert mixture_image.ndim == 3 and mixture_image.shape[-1] == 3
    for audio, image, si_snr in zip(per_source[0::3], per_source[1::3], per_source[2::3], strict=True):
        rate, samples = audio
        assert rate == 8000 and samples.dtype == np.int16 and samples.shape == (28000,)
        assert image.shape == mixture_image.shape
        assert si_snr == app.NO_ESTIMATE  # ZOO_ESTIMATOR_MODEL="" turns the estimator off


def test_unknown_model_label_falls_back_to_the_default(app):
    assert len(app.separate(str(EXAMPLE), "no such model")) == 1 + 2 * 3


def test_three_speaker_tab(monkeypatch, tmp_path, tiny_separation_checkpoint, tiny_estimator_checkpoint):
    from .conftest import save_tiny_checkpoint

    three = save_tiny_checkpoint(tmp_path / "three", "ConvTasNetForSourceSeparation", 3, 8000)
    app = load_app(monkeypatch, tiny_separation_checkpoint, estimator_model=tiny_estimator_checkpoint, three_speaker_model=three)
    assert app.THREE_SPEAKER_MODEL == str(three)
    mixture_image, *per_source = app.separate_three(app.EXAMPLES_3SPK[0])
    assert len(per_source) == 3 * 3 and mixture_image.ndim == 3
    # the estimator learned 2-speaker separator outputs only: the 3-speaker tab shows no estimate
    assert per_source[2::3] == [app.NO_ESTIMATE] * 3
    demo = app.build_demo()
    assert {"2-speaker separation", "3-speaker separation"} <= {block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)}


def test_separate_with_an_estimator(monkeypatch, tiny_separation_checkpoint, tiny_estimator_checkpoint):
    app = load_app(monkeypatch, tiny_separation_checkpoint, estimator_model=tiny_estimator_checkpoint)
    _, *per_source = app.separate(str(EXAMPLE))
    for si_snr in per_source[2::3]:
        assert re.fullmatch(r"-?\d+\.\d dB \(estimated, no reference needed\)", si_snr), si_snr


def test_si_snr_text(app):
    assert app.si_snr_text(None) == "n/a — no estimator shipped"
    assert app.si_snr_text(12.345).startswith("12.3 dB")


def _write(path: Path, data, rate=8000, subtype="PCM_16") -> str:
    sf.write(path, data, rate, subtype=subtype)
    return str(path)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: None, "no mixture"),
        (lambda d: _write(d / "empty.wav", np.zeros(0, dtype=np.int16)), "mixture is empty (0 samples)"),
        (lambda d: (d / "notes.wav").write_text("not audio") and str(d / "notes.wav"), "could not read 'notes.wav'"),
        (
            lambda d: _write(d / "nan.wav", np.full(8000, np.nan, dtype=np.float32), subtype="FLOAT"),
            "8000 NaN/inf samples",
        ),
        (lambda d: _write(d / "long.wav", np.zeros(61 * 8000, dtype=np.int16)), "61.0 s long, over the 60.0 s limit"),
        (lambda d: _write(d / "click.wav", np.ones(80, dtype=np.int16)), "shorter than the 0.050 s minimum"),
    ],
    ids=["nothing", "empty", "text", "nan", "too-long", "too-short"],
)
def test_bad_input_raises_gr_error(app, tmp_path, make, expected):
    with pytest.raises(gr.Error) as caught:
        app.separate(make(tmp_path))
    assert expected in caught.value.message
    assert str(tmp_path) not in caught.value.message  # the user's file name, not gradio's temp path


def _tab_labels(demo: gr.Blocks) -> list[str]:
    return [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]


def test_enhancement_tab_only_with_its_checkpoint(monkeypatch, tiny_separation_checkpoint, tiny_enhancement_checkpoint):
    without = load_app(monkeypatch, tiny_separation_checkpoint, "").build_demo()
    assert _tab_labels(without) == ["2-speaker separation"]
    app = load_app(monkeypatch, tiny_separation_checkpoint, tiny_enhancement_checkpoint)
    assert _tab_labels(app.build_demo()) == ["2-speaker separation", "Enhancement"]
    _, (rate, speech), _ = app.enhance(str(EXAMPLE))  # 3.5 s at 8 kHz, resampled to the model's 16 kHz
    assert rate == 16000 and speech.shape == (56000,)


def test_space_readme_header_and_requirements():
    import yaml

    readme = (APP.parent / "README.md").read_text()
    assert readme.startswith("---\n")
    header = yaml.safe_load(readme.split("---\n")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and header["pinned"] is False
    assert header["sdk_version"] == gr.__version__, (
        "bump sdk_version in spaces/separation/README.md to the gradio in use"
    )
    assert header["models"] == ["zoo-models/convtasnet-zoo-2mix-8k-gpu2", "zoo-models/sisnr-estimator-zoo-8k"]
    assert header["license"] == "apache-2.0"
    assert len(header["short_description"]) <= 60  # the Hub's limit
    for key in ("title", "emoji", "colorFrom", "colorTo"):
        assert header[key]
    lines = (APP.parent / "requirements.txt").read_text().splitlines()
    names = {line.split("==")[0].split(">=")[0] for line in lines if line and line[0].isalpha()}
    assert {"torch", "transformers", "numpy", "soundfile", "soxr", "matplotlib"} <= names
    assert "gradio" not in names  # sdk_version decides it
