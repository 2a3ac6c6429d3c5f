"""The speaker-verification Space's handlers called in-process (no browser): enroll, verify, leaderboard, diarize,
gr.Error on bad input, the bundled examples and the Space's README header."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf

from zoo.demo import Space, import_space

from ..scripts import load_script

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "spaces" / "speaker-verification" / "app.py"
EXAMPLES = APP.parent / "examples"


def load_app(monkeypatch, model, leaderboard=None):
    """A fresh import of app.py, which reads its model paths from the environment at import time."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ZOO_SPEAKER_MODEL", str(model))
    monkeypatch.delenv("ZOO_DIARIZATION_MODEL", raising=False)
    if leaderboard is None:
        monkeypatch.delenv("ZOO_SPEAKER_LEADERBOARD", raising=False)
    else:
        monkeypatch.setenv("ZOO_SPEAKER_LEADERBOARD", ",".join(str(m) for m in leaderboard))
    return import_space(Space("speaker-verification", APP))


@pytest.fixture(scope="module")
def app(tiny_speaker_checkpoint, tiny_xvector_checkpoint):
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield load_app(monkeypatch, tiny_speaker_checkpoint, [tiny_speaker_checkpoint, tiny_xvector_checkpoint])


@pytest.fixture(scope="module")
def clips(app) -> list[dict]:
    return app.EXAMPLE_CLIPS


def test_constants(app, tiny_speaker_checkpoint, tiny_xvector_checkpoint):
    assert app.TITLE == "Speaker verification"
    assert app.MODEL == app.DIARIZATION_MODEL == str(tiny_speaker_checkpoint)
    assert app.HUB_MODEL == "zoo-models/ecapa-tdnn-zoo-16k-stage2"
    assert app.LEADERBOARD_MODELS == [str(tiny_speaker_checkpoint), str(tiny_xvector_checkpoint)]
    assert app.MAX_SECONDS == 60 and app.MAX_CONVERSATION_SECONDS >= app.MAX_SECONDS
    assert app.SHIPPED_MODELS == ("ecapa-tdnn-zoo-16k-stage2", "ecapa-tdnn-zoo-16k", "xvector-zoo-16k")


def test_bundled_examples(app):
    """Two clips of each of ten unseen voices and a three-speaker conversation, 16 kHz, under 1.5 MB in all."""
    manifest = json.loads((EXAMPLES / "examples.json").read_text())
    voices = {}
    for clip in manifest["clips"]:
        voices.setdefault(clip["speaker_id"], []).append(clip)
        info = sf.info(EXAMPLES / clip["file"])
        assert info.samplerate == 16000 and info.channels == 1 and 1.5 <= info.duration <= 3.0, clip["file"]
        assert clip["speaker_id"].startswith(("espeak_en-029_", "flite_rms_")), "only voices unseen in training"
    assert len(voices) == 10 and all(len(v) == 2 for v in voices.values())
    assert all(a["text"] != b["text"] for a, b in voices.values())
    conversation = manifest["conversation"]
    assert len(conversation["speakers"]) == 3
    info = sf.info(EXAMPLES / conversation["file"])
    assert info.samplerate == 16000 and 5 <= info.duration <= 30
    ends = [s["end"] for s in conversation["segments"]]
    assert {s["speaker"] for s in conversation["segments"]} == set(conversation["speakers"])
    assert max(ends) <= info.duration
    assert sum(p.stat().st_size for p in EXAMPLES.iterdir()) < 1_500_000
    assert len(app.EXAMPLE_CLIPS) == 20 and Path(app.CONVERSATION).name == "conversation.flac"


def test_enroll_then_verify(app, clips):
    enrolled, table, status = app.enroll(" Alice ", [clips[0]["path"], clips[1]["path"]], None, {})
    assert list(enrolled) == ["Alice"] and len(enrolled["Alice"]["embeddings"]) == 2
    assert table[0][:2] == ["Alice", 2] and 4.0 < table[0][2] < 5.5 and -1 <= table[0][3] <= 1
    assert "2 clips enrolled **Alice**" in status
    enrolled, table, status = app.enroll("Alice", None, clips[4]["path"], enrolled)  # a recording adds to Alice
    assert table[0][1] == 3 and "added to **Alice**" in status
    enrolled, table, _ = app.enroll("Bob", [clips[2]["path"]], None, enrolled)
    assert [row[0] for row in table] == ["Alice", "Bob"] and table[1][3] == "—"  # one clip: no agreement to show

    markdown, scores = app.verify(clips[3]["path"], enrolled)
    assert [row[0] for row in scores] in (["Alice", "Bob"], ["Bob", "Alice"])
    assert scores[0][1] >= scores[1][1]
    best, score = scores[0][0], scores[0][1]
    assert f"Best match: **{best}**, score {score:.3f}" in markdown
    for _, value, verdict in scores:
        assert verdict == ("same speaker" if value >= 0.5 else "different")
    assert ("Accepted as" if score >= 0.5 else "Not any enrolled speaker") in markdown
    assert "threshold 0.50 (the model's calibrated threshold)" in markdown
    assert "cosine similarity" in markdown


def test_enroll_examples_and_clear(app, clips):
    enrolled, table, status = app.enroll_examples({"Carol": {"embeddings": [np.ones(16) / 4], "seconds": 1.0}})
    assert len(table) == 11 and table[0][0] == "Carol" and "10 example voices enrolled" in status
    names = {clip["name"] for clip in clips}
    assert names <= set(enrolled)
    _, scores = app.verify(next(c["path"] for c in clips if c["file"].endswith("_2.flac")), enrolled)
    assert len(scores) == 11
    assert app.clear_enrollments() == ({}, [], "Nobody is enrolled.")


def test_verify_without_a_calibrated_threshold(monkeypatch, tiny_xvector_checkpoint, clips):
    app = load_app(monkeypatch, tiny_xvector_checkpoint)
    enrolled, _, _ = app.enroll("Alice", [clips[0]["path"]], None, {})
    markdown, scores = app.verify(clips[1]["path"], enrolled)
    assert "**No decision**" in markdown and "zoo eval" in markdown
    assert scores[0][2] == "no threshold"


def _write(path: Path, data, rate=16000, subtype="PCM_16") -> str:
    sf.write(path, data, rate, subtype=subtype)
    return str(path)


BAD_FILES = [
    (lambda d: _write(d / "empty.wav", np.zeros(0, dtype=np.int16)), "is empty (0 samples)"),
    (lambda d: (d / "notes.wav").write_text("not audio") and str(d / "notes.wav"), "could not read 'notes.wav'"),
    (lambda d: _write(d / "nan.wav", np.full(16000, np.nan, dtype=np.float32), subtype="FLOAT"), "16000 NaN/inf samples"),
    (lambda d: _write(d / "long.wav", np.zeros(61 * 16000, dtype=np.int16)), "61.0 s long, over the 60.0 s limit"),
    (lambda d: _write(d / "click.wav", np.ones(800, dtype=np.int16)), "shorter than the 0.500 s minimum"),
]
BAD_IDS = ["empty", "text", "nan", "too-long", "too-short"]


@pytest.mark.parametrize("make, expected", BAD_FILES, ids=BAD_IDS)
def test_bad_clips_raise_gr_error(app, clips, tmp_path, make, expected):
    path = make(tmp_path)
    for call in (
        lambda: app.enroll("Alice", [path], None, {}),
        lambda: app.verify(path, {"Alice": {"embeddings": [np.ones(16) / 4], "seconds": 1.0}}),
    ):
        with pytest.raises(gr.Error) as caught:
            call()
        assert expected in caught.value.message
        assert str(tmp_path) not in caught.value.message  # the user's file name, not gradio's temp path


def test_bad_requests_raise_gr_error(app, clips):
    path = clips[0]["path"]
    cases = [
        (lambda: app.enroll("", [path], None, {}), "no name"),
        (lambda: app.enroll("x" * 61, [path], None, {}), "61 characters long"),
        (lambda: app.enroll("Alice", None, None, {}), "no clips for 'Alice'"),
        (lambda: app.enroll("Alice", [path] * 11, None, {}), "11 clips at once; enroll at most 10"),
        (lambda: app.verify(path, {}), "nobody is enrolled yet"),
        (lambda: app.verify(None, {"A": {"embeddings": [np.ones(16) / 4], "seconds": 1.0}}), "no test clip"),
        (lambda: app.diarize(None, "auto", {}), "no recording"),
    ]
    for call, expected in cases:
        with pytest.raises(gr.Error) as caught:
            call()
        assert expected in caught.value.message


def test_enrollment_limit(app, clips, monkeypatch):
    monkeypatch.setattr(app, "MAX_ENROLLED", 1)
    enrolled, _, _ = app.enroll("Alice", [clips[0]["path"]], None, {})
    enrolled, _, _ = app.enroll("Alice", [clips[1]["path"]], None, enrolled)  # more clips of an enrolled name: fine
    with pytest.raises(gr.Error, match="1 speakers are enrolled already"):
        app.enroll("Bob", [clips[2]["path"]], None, enrolled)


def test_leaderboard(app, tiny_speaker_checkpoint, tiny_xvector_checkpoint):
    rows, image, note = app.show_leaderboard()
    assert sorted(row[0] for row in rows) == sorted([tiny_speaker_checkpoint.name, tiny_xvector_checkpoint.name])
    by_type = {row[1]: row for row in rows}
    assert set(by_type) == {"ecapa_tdnn", "xvector"}
    assert [row[3] for row in rows] == sorted(row[3] for row in rows)  # best EER first
    for row in rows:
        assert len(row) == len(app.LEADERBOARD_HEADERS)
        assert 0 <= row[3] <= 100 and 0 <= row[4] <= 1.0 + 1e-9
        assert row[2].endswith(" M") and row[7] == "—"  # the tiny checkpoints have no card results
    assert by_type["ecapa_tdnn"][5] == 0.5 and by_type["xvector"][5] == "—"
    assert by_type["xvector"][6] == "uncalibrated" and "/" in by_type["ecapa_tdnn"][6]
    assert image.ndim == 3 and image.shape[-1] == 3 and image.shape[1] > 300
    assert "10 target and 180 non-target trials" in note
    assert app.show_leaderboard()[0] is rows  # cached: computed once per process


def test_leaderboard_matches_the_metrics(app):
    """The leaderboard's EER is zoo.metrics.eer over every pair of bundled clips."""
    from zoo.metrics import eer

    paths, pairs, labels = app.bundled_trials()
    assert pairs.shape == (190, 2) and labels.sum() == 10
    pipe = app.load_pipeline("speaker-embedding", app.MODEL)
    waveforms = [app.zoo.load_audio(p, sampling_rate=16000) for p in paths]
    embeddings = np.stack([pipe(w, sampling_rate=16000) for w in waveforms])
    scores = (embeddings[pairs[:, 0]] * embeddings[pairs[:, 1]]).sum(-1)
    row = next(r for r in app.leaderboard()[0] if r[1] == "ecapa_tdnn")
    assert row[3] == pytest.approx(round(eer(scores, labels)[0], 2), abs=0.011)


def test_a_model_that_does_not_load_is_noted(monkeypatch, tiny_speaker_checkpoint, tmp_path):
    app = load_app(monkeypatch, tiny_speaker_checkpoint, [tiny_speaker_checkpoint, tmp_path / "missing"])
    rows, _, note = app.leaderboard()
    assert len(rows) == 1 and "`missing` could not be loaded" in note


def test_card_summary(app, tmp_path):
    assert app.card_summary(str(tmp_path)) == "—"
    results = [
        {"task": "speaker-embedding", "dataset": "speech-200", "split": "validation", "metrics": {"eer": 2.5}},
        {"task": "speaker-embedding", "dataset": "speech-200", "split": "test", "metrics": {"eer": 4.123, "min-dcf": 0.3}},
    ]
    (tmp_path / "card_data.json").write_text(json.dumps({"results": results}))
    assert app.card_summary(str(tmp_path)) == "EER 4.12 % (speech-200 test)"  # the test split's, when there is one
    (tmp_path / "card_data.json").write_text(json.dumps({"results": results[:1]}))
    assert app.card_summary(str(tmp_path)) == "EER 2.50 % (speech-200 validation)"


def test_diarize_the_bundled_conversation(app, clips):
    image, table, summary = app.diarize(app.CONVERSATION, "3", {})
    assert image.ndim == 3 and image.shape[-1] == 3
    assert {row[0] for row in table} == {"SPEAKER_00", "SPEAKER_01", "SPEAKER_02"}
    for speaker, match, start, end, duration in table:
        assert match == "" and 0 <= start < end <= 15 and duration == pytest.approx(end - start, abs=0.011)
    assert summary.startswith("3 speaker(s) in 14.8 s")
    # with voices enrolled, each diarized speaker gets the enrolled name it matches at the threshold
    enrolled, _, _ = app.enroll_examples({})
    _, table, summary = app.diarize(app.CONVERSATION, "auto", enrolled)
    matched = {row[1] for row in table} - {""}
    assert all(label.rsplit(" (", 1)[0] in enrolled for label in matched)
    # the random tiny model scores every pair near 1, so every diarized speaker matches some enrolled voice
    assert matched and "Matched to enrolled voices" in summary


def test_diarize_silence_finds_no_speech(app, tmp_path):
    image, table, summary = app.diarize(_write(tmp_path / "quiet.wav", np.zeros(3 * 16000, dtype=np.int16)), "auto", {})
    assert table == [] and summary == "No speech found in 3.0 s of audio." and image.ndim == 3


def test_diarize_refuses_too_long_and_unreadable(app, tmp_path):
    with pytest.raises(gr.Error, match="over the 600.0 s limit"):
        app.diarize(_write(tmp_path / "long.wav", np.zeros(601 * 16000, dtype=np.int16)), "auto", {})
    (tmp_path / "notes.wav").write_text("no")
    with pytest.raises(gr.Error, match="could not read 'notes.wav'"):
        app.diarize(str(tmp_path / "notes.wav"), "auto", {})


def _tab_labels(demo: gr.Blocks) -> list[str]:
    return [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]


def test_build_demo_tabs(app):
    assert _tab_labels(app.build_demo()) == ["Enroll", "Verify", "Leaderboard", "Diarization"]


def test_examples_script_helpers():
    """scripts/make_speaker_examples.py: names, voice picking and the conversation layout (no corpus needed)."""
    script = load_script("make_speaker_examples")
    espeak = {"engine": "espeak", "voice": "en-029", "variant": "Alicia", "gender": "female", "speaker_id": "espeak_en-029_Alicia_p25"}
    flite = {"engine": "flite", "voice": "rms", "variant": "", "gender": "male", "speaker_id": "flite_rms_f111"}
    assert script.display_name(espeak) == "en-029 Alicia p25 f (espeak)"
    assert script.display_name(flite) == "rms f111 (flite)"
    assert script.file_stem(flite) == "flite_rms_f111"
    assert script.file_stem({"speaker_id": "flite_rms_d0.89_f115"}) == "flite_rms_d089_f115"  # ids of corpora before stop 12
    rows = [{"engine": e, "speaker_id": f"{e}_{i}"} for e in ("espeak", "flite") for i in range(9)]
    assert script.pick_voices(rows) == [f"espeak_{i}" for i in (0, 2, 4, 6, 8)] + [f"flite_{i}" for i in (0, 2, 4, 6, 8)]
    few_flite = [row for row in rows if row["engine"] == "espeak" or row["speaker_id"] in {"flite_1", "flite_5", "flite_7"}]
    assert script.pick_voices(few_flite) == [f"espeak_{i}" for i in (0, 1, 3, 4, 5, 7, 8)] + ["flite_1", "flite_5", "flite_7"]
    rate = script.SAMPLING_RATE
    turns = [(name, np.ones(rate, dtype=np.float32)) for name in ("A", "B", "C", "B", "A")]
    mixed, segments = script.conversation(turns)
    starts = [s["start"] for s in segments]
    assert starts[:3] == [0.0, 1.3, 2.6] and starts[3] == pytest.approx(3.6 - script.OVERLAP_SECONDS)
    assert segments[3]["start"] < segments[2]["end"]  # the one overlap
    assert mixed.shape[0] == round((segments[-1]["end"] + script.PAUSE_SECONDS) * rate)
    assert mixed.max() == 2.0  # the overlapped stretch sums two speakers


def test_space_readme_header_and_requirements():
    import yaml

    readme = (APP.parent / "README.md").read_text()
    assert readme.startswith("---\n")
    header = yaml.safe_load(readme.split("---\n")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and header["pinned"] is False
    assert header["sdk_version"] == gr.__version__, "bump sdk_version in spaces/speaker-verification/README.md"
    assert header["models"] == ["zoo-models/ecapa-tdnn-zoo-16k-stage2", "zoo-models/ecapa-tdnn-zoo-16k", "zoo-models/xvector-zoo-16k"]
    assert header["license"] == "apache-2.0"
    assert len(header["short_description"]) <= 60  # the Hub's limit
    for key in ("title", "emoji", "colorFrom", "colorTo"):
        assert header[key]
    lines = (APP.parent / "requirements.txt").read_text().splitlines()
    names = {line.split("==")[0].split(">=")[0] for line in lines if line and line[0].isalpha()}
    assert {"torch", "transformers", "numpy", "soundfile", "soxr", "matplotlib", "scikit-learn"} <= names
    assert "gradio" not in names  # sdk_version decides it
