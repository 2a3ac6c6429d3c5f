"""The ASR Space: its handlers called in-process with a tiny CTC model trained on tone "speech" (so transcripts are
checked, not only their type), the model picker, the plots, gr.Error on bad input, the bundled examples and the
Space's README header; then the Space served by `zoo demo` and driven in headless chromium."""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
import torch

from zoo.asr.processing_asr import build_char_tokenizer, normalize_text
from zoo.demo import Space, import_space
from zoo.metrics import cer, wer

from ..asr.tones import RATE, TRAIN_TEXTS, tones

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "spaces" / "asr" / "app.py"
EXAMPLES = APP.parent / "examples"
MANIFEST = json.loads((EXAMPLES / "examples.json").read_text())
TEXT = TRAIN_TEXTS[0]  # "acdd dcb": two words the tone model reads back exactly


def load_app(monkeypatch, models: str | None):
    """A fresh import of app.py, which reads its checkpoint folders from the environment at import time."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if models is None:
        monkeypatch.delenv("ZOO_ASR_MODEL", raising=False)
    else:
        monkeypatch.setenv("ZOO_ASR_MODEL", models)
    return import_space(Space("asr", APP))


@pytest.fixture(scope="module")
def app(tiny_asr_checkpoint, tiny_asr_lm_checkpoint):
    models = [tiny_asr_checkpoint] + ([tiny_asr_lm_checkpoint] if tiny_asr_lm_checkpoint is not None else [])
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield load_app(monkeypatch, ",".join(str(m) for m in models))


def write(path: Path, data, rate=RATE, subtype="PCM_16") -> str:
    sf.write(path, data, rate, subtype=subtype)
    return str(path)


def tone_file(tmp_path: Path, text: str = TEXT, rate: int = 44100, stereo: bool = True) -> str:
    """The tone rendering of `text`, at another rate than the model's and in stereo: the Space must cope."""
    from zoo.audio import resample

    wave = resample(tones(text), RATE, rate)
    return write(tmp_path / f"tones-{rate}.wav", np.stack([wave, 0.5 * wave], axis=1) if stereo else wave, rate)


# ---- constants, examples, picker ------------------------------------------------------------------------------
def test_constants(app, tiny_asr_checkpoint):
    assert app.TITLE == "Speech recognition" and app.MAX_SECONDS == 30 and app.MIN_SECONDS < 1
    assert app.MODELS["tone-ctc"] == str(tiny_asr_checkpoint) and app.DEFAULT_MODEL == "tone-ctc"
    assert app.MISSING == {}  # ZOO_ASR_MODEL replaces the shipped list: nothing is "missing"
    assert list(app.RECOGNIZERS) == ["CTC (greedy)", "CTC + n-gram LM", "Joint CTC/attention (+LM)"]


def test_picker_offers_each_shipped_folder_that_exists(monkeypatch, tmp_path):
    """Without ZOO_ASR_MODEL the picker lists the checkpoints/ folders present, in RECOGNIZERS order, and names the
    others; with none at all it falls back to the Hub id. (Importing app.py loads no model.)"""
    space = tmp_path / "spaces" / "asr"
    space.mkdir(parents=True)
    shutil.copy(APP, space / "app.py")
    checkpoints = tmp_path / "checkpoints"
    for name in ("transformer-asr-joint-zoo-16k", "ctc-conformer-zoo-16k-stage18"):
        (checkpoints / name).mkdir(parents=True)
    monkeypatch.delenv("ZOO_ASR_MODEL", raising=False)
    app = import_space(Space("asr", space / "app.py"))
    assert app.MODELS == {
        "CTC (greedy)": str(checkpoints / "ctc-conformer-zoo-16k-stage18"),
        "Joint CTC/attention (+LM)": str(checkpoints / "transformer-asr-joint-zoo-16k"),
    }
    assert app.MISSING == {"CTC + n-gram LM": "ctc-conformer-zoo-16k-lm"}
    shutil.rmtree(checkpoints)
    app = import_space(Space("asr", space / "app.py"))
    assert app.MODELS == {"CTC (greedy)": "zoo-models/ctc-conformer-zoo-16k-stage18"} and len(app.MISSING) == 2
    monkeypatch.setenv("ZOO_ASR_MODEL", "/a/model, /b/model ,")  # same folder names: the labels stay distinct
    app = import_space(Space("asr", space / "app.py"))
    assert app.MODELS == {"model": "/a/model", "model (2)": "/b/model"}


def test_bundled_examples(app):
    """Four utterances of unseen test voices (two per engine), 16 kHz mono, with normalised reference transcripts."""
    clips = MANIFEST["clips"]
    assert MANIFEST["corpus"] == "speech-200" and MANIFEST["split"] == "test" and len(clips) == 4
    assert sorted(c["speaker_id"].split("_")[0] for c in clips) == ["espeak", "espeak", "flite", "flite"]
    assert len({c["speaker_id"] for c in clips}) == 4
    for clip in clips:
        assert clip["speaker_id"].startswith(("espeak_en-029_", "flite_rms_")), "only voices unseen in training"
        info = sf.info(EXAMPLES / clip["file"])
        assert info.samplerate == 16000 and info.channels == 1 and 2.5 <= info.duration <= 5.0, clip["file"]
        assert clip["text"] == normalize_text(clip["original_text"]) and len(clip["text"].split()) >= 5
    assert sum(p.stat().st_size for p in EXAMPLES.iterdir()) < 600_000
    assert [c["path"] for c in app.EXAMPLE_CLIPS] == [str(EXAMPLES / c["file"]) for c in clips]


# ---- transcribe -----------------------------------------------------------------------------------------------
def test_transcribes_stereo_44k_tones_exactly(app, tmp_path):
    text, image, summary = app.transcribe(tone_file(tmp_path), "tone-ctc", "ACDD, DCB!")  # reference normalised
    assert text == TEXT
    assert "**tone-ctc**" in summary and "greedy CTC" in summary and "1.3 s of audio" in summary
    assert "**WER 0.0 %** (0 word errors in 2 reference words), CER 0.0 %" in summary
    assert image.ndim == 3 and image.shape[-1] == 3 and image.shape[1] >= 800
    assert image.std() > 10  # a drawn heatmap, not a blank canvas
    # mono, at the model's own rate, no reference: the same transcript, no WER line
    text, _, summary = app.transcribe(tone_file(tmp_path, rate=RATE, stereo=False), "tone-ctc", "")
    assert text == TEXT and "WER" not in summary


def test_wer_against_a_reference(app, tmp_path):
    reference = "acdd dcb dd"  # one word more than was said: one deletion
    text, _, summary = app.transcribe(tone_file(tmp_path), "tone-ctc", reference)
    assert wer(reference, text) == pytest.approx(1 / 3) and cer(reference, text) == pytest.approx(3 / 11)
    assert "**WER 33.3 %** (1 word error in 3 reference words), CER 27.3 %" in summary
    assert f"*{reference}*" in summary


def test_an_unknown_label_falls_back_to_the_default(app, tmp_path):
    text, _, summary = app.transcribe(tone_file(tmp_path), "no such model", None)
    assert text == TEXT and "**tone-ctc**" in summary


def test_ctc_posteriors_are_what_the_transcript_was_read_from(app):
    pipe = app.load_pipeline(app.MODELS["tone-ctc"])
    probabilities, tokens = app.ctc_posteriors(pipe, tones(TEXT), RATE)
    assert probabilities.shape == (len(probabilities), 30) and np.allclose(probabilities.sum(-1), 1, atol=1e-5)
    assert len(probabilities) == pytest.approx(len(tones(TEXT)) / RATE / 0.04, abs=1)  # 40 ms steps
    best = probabilities.argmax(-1)
    path = [tokens[t] for i, t in enumerate(best) if t != 0 and (i == 0 or t != best[i - 1])]
    assert "".join(path).replace("|", " ").strip() == TEXT
    assert app.token_label("<pad>", pipe) == app.BLANK_LABEL and app.token_label("|", pipe) == app.SPACE_LABEL


def test_lm_recognizer(app, tmp_path, tiny_asr_lm_checkpoint):
    if tiny_asr_lm_checkpoint is None:
        pytest.skip("the n-gram LM recognizer needs pyctcdecode and kenlm")
    pipe = app.load_pipeline(app.MODELS["tone-ctc-lm"])
    assert pipe.type == "ctc_with_lm"
    text, image, summary = app.transcribe(tone_file(tmp_path), "tone-ctc-lm", TEXT)
    assert text == TEXT and "CTC beam search with the folder's n-gram LM" in summary and "WER 0.0 %" in summary
    assert image.ndim == 3
    # "cab" is no word of the LM: greedy CTC spells it out, the beam search picks words the LM knows
    greedy, _, _ = app.transcribe(tone_file(tmp_path, "dad cab"), "tone-ctc", None)
    with_lm, _, _ = app.transcribe(tone_file(tmp_path, "dad cab"), "tone-ctc-lm", None)
    assert greedy == "dad cab" and with_lm != greedy
    assert set(with_lm.split()) <= {word for text in TRAIN_TEXTS for word in text.split()}


def test_lm_folder_without_pyctcdecode_says_it_decodes_greedily(app, tmp_path):
    (tmp_path / "language_model").mkdir()
    pipe = SimpleNamespace(type="ctc", model=SimpleNamespace(config=SimpleNamespace(is_encoder_decoder=False)))
    assert "n-gram LM could not be loaded" in app.decoder_name(pipe, str(tmp_path))


def test_compare_every_recognizer(app, tmp_path):
    rows = app.compare(tone_file(tmp_path), "acdd dcb dd")
    assert [row[0] for row in rows] == list(app.MODELS)
    for label, text, word_rate, char_rate, seconds in rows:
        assert text == TEXT and (word_rate, char_rate) == (33.3, 27.3) and seconds >= 0, label
    assert [row[2:4] for row in app.compare(tone_file(tmp_path), "")] == [["—", "—"]] * len(app.MODELS)


def test_speech_example_gives_a_transcript_and_a_wer(app):
    """A bundled example through the tone model: gibberish, but the whole path runs and the WER is computed."""
    clip = app.EXAMPLE_CLIPS[0]
    text, image, summary = app.transcribe(clip["path"], "tone-ctc", clip["text"])
    assert isinstance(text, str) and text == normalize_text(text)
    assert f"**WER {100 * wer(clip['text'], text):.1f} %**" in summary and image.ndim == 3


# ---- plots ----------------------------------------------------------------------------------------------------
class FakeSeq2Seq(torch.nn.Module):
    """An encoder-decoder stand-in whose cross-attention is a diagonal: output token i looks at step i * stride."""

    def __init__(self, attentions: bool = True):
        super().__init__()
        self.config = SimpleNamespace(is_encoder_decoder=True, decoder_start_token_id=1, eos_token_id=0, sampling_rate=RATE)
        self.generation_config = self.config
        self.attentions = attentions

    def forward(self, input_features, attention_mask=None, decoder_input_ids=None, output_attentions=False):
        steps, tokens = input_features.shape[1] // 4, decoder_input_ids.shape[1]
        attention = torch.zeros(1, 2, tokens, steps)  # (batch, heads, tokens, encoder_steps)
        for i in range(tokens):
            attention[:, :, i, i * steps // tokens] = 1.0
        return SimpleNamespace(cross_attentions=(attention,) if self.attentions and output_attentions else None)


def fake_seq2seq_pipe(attentions: bool = True):
    from zoo import AsrFeatureExtractor

    return SimpleNamespace(
        type="seq2seq", model=FakeSeq2Seq(attentions), tokenizer=build_char_tokenizer(), feature_extractor=AsrFeatureExtractor()
    )


def test_attention_plot_of_an_encoder_decoder(app):
    image, note = app.explain(fake_seq2seq_pipe(), tones(TEXT), RATE, TEXT, "seq2seq")
    assert image is not None and image.ndim == 3 and image.std() > 10
    assert "each row is an output character" in note
    image, note = app.explain(fake_seq2seq_pipe(attentions=False), tones(TEXT), RATE, TEXT, "seq2seq")
    assert image is None and note == "No alignment plot: this model returns no cross-attention weights."
    image, note = app.explain(fake_seq2seq_pipe(), tones(TEXT), RATE, "", "seq2seq")
    assert image is None and "emitted no characters" in note
    assert app.decoder_name(fake_seq2seq_pipe(), "/nowhere") == "attention decoding (1 beam)"


TINY_SEQ2SEQ = {
    "TransformerAsr": {"decoder_layers": 1, "decoder_heads": 2, "decoder_ffn_dim": 32},
    "Las": {"decoder_embedding_size": 8, "decoder_hidden_size": 16, "attention_dim": 16, "location_channels": 4},
}


@pytest.mark.parametrize("name", list(TINY_SEQ2SEQ))
def test_zoo_seq2seq_recognizer_through_the_space(name, tmp_path, monkeypatch):
    """A tiny random zoo attention recognizer (helper-built, as `zoo train` saves one) in the picker: the stock
    pipeline decodes it with generate(), and the plot is its decoder's cross-attention."""
    import zoo
    from zoo.hub import save_checkpoint

    model_class = getattr(zoo, f"{name}ForSpeechSeq2Seq", None)
    if model_class is None:
        pytest.skip(f"zoo has no {name}ForSpeechSeq2Seq")
    from zoo.asr.processing_asr import build_seq2seq_processor

    torch.manual_seed(0)
    config = getattr(zoo, f"{name}Config")(hidden_size=16, num_layers=1, num_heads=2, ffn_dim=32, subsampling_channels=8, **TINY_SEQ2SEQ[name])
    model = model_class(config).eval()
    model.generation_config.num_beams = 1  # greedy: a random model's beams only cost time here
    folder = save_checkpoint(
        model, tmp_path / f"tiny-{name.lower()}", feature_extractor=build_seq2seq_processor(), task="automatic-speech-recognition"
    )
    app = load_app(monkeypatch, str(folder))
    label = f"tiny-{name.lower()}"
    pipe = app.load_pipeline(str(folder))
    assert app.is_encoder_decoder(pipe)
    text, _, summary = app.transcribe(tone_file(tmp_path), label, TEXT)
    assert isinstance(text, str) and "WER" in summary
    assert f"joint CTC/attention decoding (1 beam, CTC weight {config.ctc_weight:g})" in summary
    image, note = app.explain(pipe, tones(TEXT), RATE, "cab", label)  # the alignment of a given transcript
    assert image is not None and image.ndim == 3 and "each row is an output character" in note


def test_a_failing_plot_keeps_the_transcript(app, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(app, "ctc_plot", broken)
    text, image, summary = app.transcribe(tone_file(tmp_path), "tone-ctc", None)
    assert text == TEXT and image is None
    assert "No plot: drawing it failed (RuntimeError: no canvas)." in summary


# ---- bad input ------------------------------------------------------------------------------------------------
BAD_FILES = [
    (lambda d: write(d / "empty.wav", np.zeros(0, dtype=np.int16)), "is empty (0 samples)"),
    (lambda d: (d / "notes.wav").write_text("not audio") and str(d / "notes.wav"), "could not read 'notes.wav'"),
    (lambda d: write(d / "nan.wav", np.full(16000, np.nan, dtype=np.float32), subtype="FLOAT"), "16000 NaN/inf samples"),
    (lambda d: write(d / "long.wav", tones("a" * 200)), "32.0 s long, over the 30.0 s limit"),
    (lambda d: write(d / "click.wav", np.full(800, 9000, dtype=np.int16)), "shorter than the 0.300 s minimum"),
    (lambda d: write(d / "quiet.wav", np.zeros(16000, dtype=np.int16)), "the audio is silent (peak -inf dBFS"),
    (lambda d: write(d / "hiss.wav", np.full((16000, 2), 10, dtype=np.int16), 48000), "the audio is silent (peak -70 dBFS"),
]
BAD_IDS = ["empty", "text", "nan", "too-long", "too-short", "digital-silence", "muted-mic"]


@pytest.mark.parametrize("make, expected", BAD_FILES, ids=BAD_IDS)
def test_bad_audio_raises_gr_error(app, tmp_path, make, expected):
    path = make(tmp_path)
    for call in (lambda: app.transcribe(path, "tone-ctc", ""), lambda: app.compare(path, "")):
        with pytest.raises(gr.Error) as caught:
            call()
        assert expected in caught.value.message
        assert str(tmp_path) not in caught.value.message  # the user's file name, not gradio's temp path


def test_bad_requests_raise_gr_error(app, tmp_path):
    with pytest.raises(gr.Error, match="no audio: record something or upload a file"):
        app.transcribe(None, "tone-ctc", "")
    with pytest.raises(gr.Error, match="the reference transcript is 2001 characters long; keep it under 2000"):
        app.transcribe(tone_file(tmp_path), "tone-ctc", "a" * 2001)
    assert app.forget_reference() == ""


# ---- layout, README, examples script --------------------------------------------------------------------------
def test_build_demo_layout(app):
    demo = app.build_demo()
    blocks = {getattr(block, "elem_id", None): block for block in demo.blocks.values()}
    assert blocks["asr-model"].choices == [(label, label) for label in app.MODELS]
    assert blocks["asr-input"].sources == ["upload", "microphone"]
    assert blocks["asr-compare"].visible == (len(app.MODELS) > 1)
    examples = [block for block in demo.blocks.values() if isinstance(block, gr.Dataset)]
    assert len(examples) == 1 and len(examples[0].samples) == 4
    names = {dependency.get("api_name") for dependency in demo.config["dependencies"]}
    assert {"transcribe", "compare"} <= names


def test_a_recognizer_that_does_not_load_leaves_the_picker(monkeypatch, tiny_asr_checkpoint, tmp_path):
    app = load_app(monkeypatch, f"{tmp_path / 'missing'},{tiny_asr_checkpoint}")
    assert list(app.MODELS) == ["missing", "tone-ctc"] and app.DEFAULT_MODEL == "missing"
    demo = app.build_demo()
    assert list(app.MODELS) == ["tone-ctc"] and app.DEFAULT_MODEL == "tone-ctc"
    assert list(app.LOAD_ERRORS) == ["missing"] and "could not load the recognizer" in app.LOAD_ERRORS["missing"]
    note = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "asr-missing")
    assert note.value.startswith("Not offered here: missing (it failed to load: RuntimeError: could not load")
    app = load_app(monkeypatch, str(tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="no recognizer could be loaded"):
        app.build_demo()


SHIPPED_CTC = REPO_ROOT / "checkpoints" / "ctc-conformer-zoo-16k-stage18"


@pytest.mark.skipif(not SHIPPED_CTC.is_dir(), reason="checkpoints/ctc-conformer-zoo-16k-stage18 is not in this checkout")
def test_shipped_ctc_reads_the_bundled_examples_with_the_stock_pipeline():
    """transformers' own pipeline on the shipped folder, as the README shows it: the four unseen-voice examples come
    out as text, no worse than the model card's unseen-voice numbers allow (4 clips, 38 words: loose margins)."""
    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=str(SHIPPED_CTC))
    references = [clip["text"] for clip in MANIFEST["clips"]]
    hypotheses = [asr(str(EXAMPLES / clip["file"]))["text"] for clip in MANIFEST["clips"]]
    assert all(isinstance(h, str) and h == normalize_text(h) for h in hypotheses)
    word_rate, char_rate = wer(references, hypotheses), cer(references, hypotheses)
    assert char_rate < 0.6, (char_rate, hypotheses)  # most characters right, whatever the card says
    card = json.loads((SHIPPED_CTC / "card_data.json").read_text()) if (SHIPPED_CTC / "card_data.json").is_file() else {}
    results = [r for r in card.get("results", []) if {"wer", "cer"} <= set(r.get("metrics", {}))]
    # the card's unseen-voice result (`zoo eval` writes one; these examples are unseen voices too): a checkpoint
    # with validation numbers only (seen voices, easier) is held to the absolute bound alone
    result = next((r for r in results if "unseen" in r.get("dataset", "")), None)
    if result is not None:
        metrics = result["metrics"]
        assert word_rate <= metrics["wer"] + 0.2 and char_rate <= metrics["cer"] + 0.15, (
            f"WER {word_rate:.3f} / CER {char_rate:.3f} on the examples; the card says {metrics} on {result['dataset']}"
        )


def test_space_readme_header_and_requirements():
    import yaml

    readme = (APP.parent / "README.md").read_text()
    assert readme.startswith("---\n")
    header = yaml.safe_load(readme.split("---\n")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and header["pinned"] is False
    assert header["sdk_version"] == gr.__version__, "bump sdk_version in spaces/asr/README.md"
    assert header["models"][0] == "zoo-models/ctc-conformer-zoo-16k-stage18" and header["license"] == "apache-2.0"
    assert len(header["short_description"]) <= 60  # the Hub's limit
    for key in ("title", "emoji", "colorFrom", "colorTo"):
        assert header[key]
    lines = (APP.parent / "requirements.txt").read_text().splitlines()
    names = {line.split("==")[0].split(">=")[0] for line in lines if line and line[0].isalpha()}
    assert {"torch", "transformers", "numpy", "soundfile", "soxr", "matplotlib", "jiwer", "pyctcdecode", "kenlm"} <= names
    assert "gradio" not in names  # sdk_version decides it
    assert (APP.parent / "packages.txt").read_text().split() == ["ffmpeg"]  # mp3/m4a uploads, browser recordings


def test_examples_script_helpers():
    """scripts/make_asr_examples.py: display names and the fixed picking rules (no corpus needed)."""
    spec = importlib.util.spec_from_file_location("make_asr_examples", REPO_ROOT / "scripts" / "make_asr_examples.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    espeak = {"engine": "espeak", "voice": "en-029", "variant": "f4", "gender": "female", "speaker_id": "espeak_en-029_f4_p55"}
    flite = {"engine": "flite", "voice": "rms", "variant": "", "gender": "male", "speaker_id": "flite_rms_f111"}
    assert script.display_name(espeak) == "espeak-ng en-029 f4 p55 (female)"
    assert script.display_name(flite) == "flite rms f111 (male)"
    rows = [{"engine": e, "speaker_id": f"{e}_{i}"} for e in ("espeak", "flite") for i in range(7)]
    assert script.pick_speakers(rows) == ["espeak_0", "espeak_6", "flite_0", "flite_6"]
    utterances = [
        {"speaker_id": "s", "id": "s-2", "duration": 3.0, "text": "ONE TWO THREE FOUR FIVE"},
        {"speaker_id": "s", "id": "s-1", "duration": 3.0, "text": "ONE TWO"},  # too few words
        {"speaker_id": "s", "id": "s-0", "duration": 9.0, "text": "ONE TWO THREE FOUR FIVE SIX"},  # too long
        {"speaker_id": "s", "id": "s-3", "duration": 4.0, "text": "ONE TWO THREE FOUR FIVE SIX"},
        {"speaker_id": "t", "id": "t-0", "duration": 3.0, "text": "ONE TWO THREE FOUR FIVE SIX"},  # another speaker
    ]
    assert script.first_fitting(utterances, "s", normalize_text)["id"] == "s-2"
    assert script.first_fitting(utterances, "u", normalize_text) is None


# ---- in the browser -------------------------------------------------------------------------------------------
def open_asr(page) -> None:
    page.get_by_role("tab", name="Speech recognition", exact=True).click()


@pytest.mark.browser
def test_browser_example_upload_pick_and_transcribe(page, tiny_asr_lm_checkpoint, tmp_path):
    """Pick a bundled example (fills the reference), transcribe: transcript, WER and the posterior plot. Then upload
    44.1 kHz stereo tones, pick the LM recognizer: the exact transcript, and the example's reference is gone."""
    open_asr(page)
    clip = MANIFEST["clips"][0]
    page.get_by_text(clip["name"], exact=True).click()  # the gr.Examples button of the first clip
    page.locator("#asr-input audio[src]").first.wait_for(state="attached")
    assert page.locator("#asr-reference textarea").input_value() == clip["text"]
    page.locator("#asr-button").click()
    page.locator("#asr-summary").get_by_text("WER").wait_for()
    summary = page.locator("#asr-summary").inner_text()
    assert "tone-ctc" in summary and "greedy CTC" in summary and clip["text"] in summary
    image = page.locator("#asr-plot img")
    image.wait_for()
    assert image.evaluate("img => img.complete && img.naturalWidth") >= 800

    page.locator("#asr-input button[aria-label='Clear']").first.click()
    page.locator("#asr-input input[type=file]").set_input_files(tone_file(tmp_path))
    page.locator("#asr-input audio[src]").first.wait_for(state="attached")
    expect_value(page, "#asr-reference textarea", "")  # an upload replaces the example and its reference
    label = "tone-ctc-lm" if tiny_asr_lm_checkpoint is not None else "tone-ctc"
    page.locator("#asr-model").get_by_text(label, exact=True).click()
    page.locator("#asr-button").click()
    expect_value(page, "#asr-transcript textarea", TEXT)
    assert f"**{label}**".strip("*") in page.locator("#asr-summary").inner_text()
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "zoo-asr.png"), full_page=True)


@pytest.mark.browser
def test_browser_compare_and_refused_input(page, tmp_path):
    """Every recognizer on one example, in the table; then silence, refused with a readable message."""
    open_asr(page)
    clip = MANIFEST["clips"][1]
    page.get_by_text(clip["name"], exact=True).click()
    page.locator("#asr-input audio[src]").first.wait_for(state="attached")
    page.locator("#asr-compare").click()
    table = page.locator("#asr-table")
    table.get_by_text("tone-ctc", exact=True).first.wait_for()
    assert table.get_by_text("tone-ctc-lm", exact=True).count() >= 1  # (the demo's picker holds both)

    page.locator("#asr-input button[aria-label='Clear']").first.click()
    page.locator("#asr-input input[type=file]").set_input_files(write(tmp_path / "quiet.wav", np.zeros(16000, dtype=np.int16)))
    page.locator("#asr-input audio[src]").first.wait_for(state="attached")
    page.locator("#asr-button").click()
    toast = page.locator(".toast-body")
    toast.first.wait_for()
    text = toast.first.inner_text()
    assert "the audio is silent" in text and "Traceback" not in text


def expect_value(page, selector: str, value: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector).first).to_have_value(value, timeout=60_000)
