"""`zoo bench asr`: the arguments, the report's format and the JSON (timings are reported, never asserted)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import soundfile as sf

from zoo import cli
from zoo.asr import bench_asr

from .tones import RATE, TRAIN_TEXTS, tones


def test_zoo_bench_lists_asr(capsys):
    assert cli.main(["bench", "--help"]) == 0
    assert "asr" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit:
        cli.main(["bench", "asr", "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for text in ("pocketsphinx", "--lm-ckpt", "--seconds", "--threads", "--json", "--no-memory", "--beam-width"):
        assert text in out


def test_bad_arguments_are_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        bench_asr.main([str(tmp_path)])
    assert exit.value.code == 2 and "has no config.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_asr.main([str(tmp_path), "--seconds", "0"])
    assert "must be positive" in capsys.readouterr().err


def test_report_gives_ratios_against_pocketsphinx_and_the_targets():
    results = {
        bench_asr.GREEDY: {"seconds": 0.5, "cpu_seconds": 0.9, "texts": ["a cat", "the dog"], "peak_memory_mb": 50.0},
        bench_asr.LM: {"seconds": 2.0, "cpu_seconds": 2.0, "texts": ["a cat", "a dog"], "peak_memory_mb": 100.0},
        bench_asr.PEER: {"seconds": 4.0, "cpu_seconds": 4.0, "texts": ["at", "the dog"], "peak_memory_mb": 200.0},
    }
    audio = {"source": "corpus (test)", "utterances": 2, "seconds": 20.0, "references": ["a cat", "the dog"]}
    args = SimpleNamespace(threads=2, checkpoint="ckpt", lm_ckpt="ckpt-lm", beam_width=None)
    summary, table = bench_asr.report(results, audio, args)
    assert summary["systems"][bench_asr.GREEDY] == {"seconds": 0.5, "rtf": 0.025, "cpu_seconds": 0.9, "peak_memory_mb": 50.0, "wer": 0.0}
    assert summary["systems"][bench_asr.LM]["wer"] == 0.25 and summary["systems"][bench_asr.PEER]["wer"] == 0.5
    ratio = summary["ratios"][f"{bench_asr.LM} / {bench_asr.PEER}"]
    assert ratio == {"time": 0.5, "cpu_time": 0.5, "peak_memory": 0.5}
    assert summary["targets"] == {"greedy rtf <= 0.05": True, "LM beam search faster than pocketsphinx": True}
    lines = table.splitlines()
    assert lines[0] == "zoo bench asr" and "20.0 s of corpus (test)" in lines[1]
    row = next(line for line in lines if line.strip().startswith(bench_asr.GREEDY))
    assert row.split()[-5:] == ["0.50", "0.0250", "0.90", "0.000", "50"]
    assert "greedy rtf <= 0.05: met; LM beam search faster than pocketsphinx: met" in lines[-1]
    results[bench_asr.GREEDY]["seconds"] = 2.0
    assert "greedy rtf <= 0.05: NOT met" in bench_asr.report(results, audio, args)[1]


def test_bench_runs_every_system_on_the_same_audio(tone_folder, tmp_path, capsys):
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("kenlm")
    pytest.importorskip("pyctcdecode")
    from .lm_helpers import attach_tone_lm

    lm_folder = attach_tone_lm(tone_folder, tmp_path / "lm")
    paths = []
    for i, text in enumerate(TRAIN_TEXTS[:3]):
        paths.append(str(tmp_path / f"{i}.wav"))
        sf.write(paths[-1], tones(text), RATE)
    output = tmp_path / "bench.json"
    argv = ["bench", "asr", tone_folder, "--lm-ckpt", lm_folder, "--audio", *paths, "--threads", "1", "--no-memory", "--json", str(output)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "3 utterances" in out and "pocketsphinx" in out and f"written to {output}" in out
    summary = json.loads(output.read_text())
    assert list(summary["systems"]) == [bench_asr.GREEDY, bench_asr.LM, bench_asr.PEER]
    assert summary["audio"]["utterances"] == 3 and summary["audio"]["references"] == []
    for system in summary["systems"].values():
        assert system["seconds"] > 0 and system["rtf"] == pytest.approx(system["seconds"] / summary["audio"]["seconds"], abs=1e-3)
        assert system["peak_memory_mb"] is None and "wer" not in system  # --no-memory; files have no references
    assert set(summary["ratios"]) == {f"{bench_asr.GREEDY} / {bench_asr.PEER}", f"{bench_asr.LM} / {bench_asr.PEER}"}
    assert set(summary["targets"]) == {"greedy rtf <= 0.05", "LM beam search faster than pocketsphinx"}


def test_greedy_side_must_be_the_checkpoint_without_lm(tone_folder, tmp_path):
    pytest.importorskip("kenlm")
    pytest.importorskip("pyctcdecode")
    from .lm_helpers import attach_tone_lm

    lm_folder = attach_tone_lm(tone_folder, tmp_path / "lm")
    with pytest.raises(ValueError, match="not greedy CTC"):
        bench_asr.load_systems(lm_folder, None, peer=False)
    with pytest.raises(ValueError, match="not with an LM"):
        bench_asr.load_systems(tone_folder, tone_folder, peer=False)
