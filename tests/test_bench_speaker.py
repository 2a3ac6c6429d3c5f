"""`zoo bench speaker`: --help and bad arguments build nothing; the inputs, the standalone model file, the pipeline's
real-time-factor worker and the report, without the SpeechBrain venv (a slow test runs the real thing)."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from zoo import bench, cli


def test_zoo_bench_help_lists_speaker(capsys):
    assert cli.main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert "speaker" in out and "separation" in out


def test_zoo_bench_speaker_help_creates_no_venv(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        cli.main(["bench", "speaker", "--help", "--venv", str(tmp_path / "venv")])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for text in ("SpeechBrain", "ECAPA_TDNN", "--batch", "--seconds", "--ragged", "--bf16", "--checkpoint", "--no-rtf"):
        assert text in out
    assert not (tmp_path / "venv").exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--batch", "0"], "--batch 0, --seconds 3 and --runs 5 must all be positive"),
        (["--checkpoint", "/nonexistent/ckpt"], "--checkpoint /nonexistent/ckpt has no config.json"),
    ],
)
def test_bad_arguments_are_refused_before_any_venv(capsys, tmp_path, argv, expected):
    with pytest.raises(SystemExit) as exit:
        bench.main(["speaker", *argv, "--venv", str(tmp_path / "venv")])
    assert exit.value.code == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "venv").exists()


def test_the_ecapa_modeling_file_loads_without_zoo():
    modeling, configuration = bench._load_zoo_modeling("ecapa_tdnn", "speaker")
    assert modeling.__name__ == "zoo_bench_ecapa_tdnn.modeling_ecapa_tdnn"
    config = configuration.EcapaTdnnConfig.published()
    with torch.device("meta"):
        model = modeling.EcapaTdnnForSpeakerEmbedding(config)
    assert model.classifier is None  # embeddings only, like SpeechBrain's ECAPA_TDNN
    # SpeechBrain's ECAPA_TDNN at this configuration has 20,767,552 parameters (counted in the bench venv)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(20_767_552, rel=0.001)


def test_speaker_batch():
    equal = bench._speaker_batch(3, 1.5)
    assert equal["features"].shape == (3, 150, 80) and equal["mask"] is None and equal["lengths"] is None
    assert torch.equal(equal["features"], bench._speaker_batch(3, 1.5)["features"])  # the same for both models
    ragged = bench._speaker_batch(4, 3.0, ragged=True)
    assert ragged["mask"].sum(-1).tolist() == [150, 200, 250, 300]  # 1.5 s ... 3 s
    assert torch.allclose(ragged["lengths"], torch.tensor([0.5, 2 / 3, 5 / 6, 1.0]))
    assert ragged["features"][0, 150:].abs().sum() == 0  # padding is zero
    assert bench._speaker_batch(2, 1.0, ragged=True)["mask"].sum(-1).tolist() == [100, 100]  # shorter than 1.5 s


def test_ours_on_a_ragged_batch_matches_one_by_one():
    """What the bench times with --ragged is what one-by-one calls give (the model honours the mask)."""
    modeling, configuration = bench._load_zoo_modeling("ecapa_tdnn", "speaker")
    torch.manual_seed(0)
    config = configuration.EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16)
    model = modeling.EcapaTdnnForSpeakerEmbedding(config).eval()
    batch = bench._speaker_batch(3, 2.0, ragged=True)
    with torch.no_grad():
        padded = model(batch["features"], attention_mask=batch["mask"]).embeddings
        single = [model(batch["features"][i : i + 1, : int(batch["mask"][i].sum())]).embeddings for i in range(3)]
    assert torch.allclose(padded, torch.cat(single), atol=1e-5)


def test_speechbrain_model_at_the_same_configuration():
    pytest.importorskip("speechbrain", reason="SpeechBrain lives in the bench venv (zoo bench creates it)")
    _, configuration = bench._load_zoo_modeling("ecapa_tdnn", "speaker")
    theirs = bench._build_speechbrain_ecapa(configuration.EcapaTdnnConfig.published())
    assert sum(p.numel() for p in theirs.parameters()) == 20_767_552


def test_rtf_worker_runs_our_pipeline(capsys, tmp_path):
    """The real-time-factor worker on a tiny checkpoint: pipeline("speaker-embedding") over a batch of clips."""
    import zoo

    torch.manual_seed(0)
    config = zoo.EcapaTdnnConfig(channels=[16, 16, 16, 16, 48], attention_channels=8, se_channels=8, embedding_size=16)
    zoo.EcapaTdnnForSpeakerEmbedding(config).save_pretrained(tmp_path)
    zoo.SpeakerFeatureExtractor().save_pretrained(tmp_path)
    argv = ["rtf", "--bench", "speaker", "--batch", "3", "--seconds", "1", "--runs", "2", "--warmup", "0", "--threads", "1"]
    assert bench.main(["_worker", *argv, "--checkpoint", str(tmp_path)]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    assert result["how"] == 'pipeline("speaker-embedding")'
    assert result["audio_seconds"] == 3.0 and len(result["times"]) == 2 and all(t > 0 for t in result["times"])


def test_memory_worker_measures_ours(capsys):
    """The peak-memory worker on our published-size model, one small batch (SpeechBrain's side needs the venv)."""
    argv = ["memory", "--bench", "speaker", "--model", "ours", "--batch", "2", "--seconds", "1", "--threads", "1"]
    assert bench.main(["_worker", *argv]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    assert result["peak_increase_mb"] >= 0 and result["rss_before_mb"] > 50  # the weights alone are 80 MB


def test_report(monkeypatch, capsys, tmp_path):
    """The table, ratios and the 1.5x verdict, from canned worker results (no venv, no model run)."""
    calls = []

    def fake_worker(python, argv, module=False):
        calls.append((argv[0], module))
        if argv[0] == "time":
            return {
                "times": {"ours": [1.0, 1.2, 1.1], "theirs": [2.0, 1.8, 1.7]},
                "cpu_times": {"ours": [2.0, 2.1, 2.2], "theirs": [3.3, 3.4, 3.5]},
                "params": {"ours": 20_767_552, "theirs": 20_767_552},
                "torch": "2.9.1",
            }
        if argv[0] == "memory":
            model = argv[argv.index("--model") + 1]
            return {"peak_increase_mb": {"ours": 300.0, "theirs": 600.0}[model], "rss_before_mb": 200.0}
        return {"times": [4.0, 5.0, 6.0], "how": 'pipeline("speaker-embedding")', "audio_seconds": 48.0, "torch": "2.13.0"}

    monkeypatch.setattr(bench, "ensure_venv", lambda venv, log=print: sys.executable)
    monkeypatch.setattr(bench, "_run_worker", fake_worker)
    assert bench.main(["speaker", "--runs", "3", "--venv", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert calls == [("time", False), ("memory", False), ("memory", False), ("rtf", True)]
    assert "zoo ECAPA-TDNN" in out and "SpeechBrain ECAPA_TDNN" in out and "20.77M" in out
    assert "speed-up 1.64x (target >= 1.5x: met)" in out  # median 1.1 s vs 1.8 s
    assert "memory no more than theirs" in out and "0.50" in out
    assert "ours 2.100, theirs 3.400, ours / theirs 0.62" in out
    assert "real-time factor 0.1042 (9.6x faster than real time)" in out  # 5 s for 48 s of audio


def test_report_says_when_the_target_is_missed(monkeypatch, capsys, tmp_path):
    def fake_worker(python, argv, module=False):
        if argv[0] == "time":
            return {"times": {"ours": [1.5], "theirs": [1.8]}, "cpu_times": {"ours": [1.5], "theirs": [1.8]},
                    "params": {"ours": 1, "theirs": 1}, "torch": "2.9.1"}
        return {"peak_increase_mb": 500.0 if "ours" in argv else 400.0, "rss_before_mb": 1.0}

    monkeypatch.setattr(bench, "ensure_venv", lambda venv, log=print: sys.executable)
    monkeypatch.setattr(bench, "_run_worker", fake_worker)
    assert bench.main(["speaker", "--runs", "1", "--no-rtf", "--venv", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "speed-up 1.20x (target >= 1.5x: NOT met)" in out and "memory MORE than theirs" in out
    assert "real-time factor" not in out


@pytest.mark.slow
def test_real_speaker_bench_small(capsys):
    """The whole benchmark, small: needs (or creates, ~7 GB) the bench venv with SpeechBrain."""
    assert bench.main(["speaker", "--batch", "2", "--seconds", "1", "--runs", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "ours / theirs" in out and "real-time factor" in out
