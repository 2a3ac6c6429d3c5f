"""`zoo bench`: the commands answer --help without building anything; the bench loads the model file standalone."""

import pytest
import torch

from zoo import bench, cli


def test_zoo_bench_help_lists_the_benchmarks(capsys):
    assert cli.main(["bench", "--help"]) == 0
    assert "separation" in capsys.readouterr().out


def test_zoo_bench_separation_help_creates_no_venv(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        cli.main(["bench", "separation", "--help", "--venv", str(tmp_path / "venv")])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert "SpeechBrain" in out and "--runs" in out and "--lengths" in out
    assert not (tmp_path / "venv").exists()


def test_unknown_benchmark_is_refused(capsys):
    assert cli.main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_bench_loads_the_modeling_file_without_zoo():
    modeling, configuration = bench._load_zoo_modeling("sepformer")
    assert modeling.__name__ == "zoo_bench_sepformer.modeling_sepformer"
    with torch.device("meta"):
        model = modeling.SepformerForSourceSeparation(configuration.SepformerConfig.published())
    assert 25.5e6 <= sum(p.numel() for p in model.parameters()) <= 26.5e6
