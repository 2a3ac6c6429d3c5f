"""Downloads by repo id, for real over HTTP: olah serves a git repo of a saved checkpoint through the Hub API.

olah runs offline from its own venv (`bash scripts/setup_olah.sh` makes it at $ZOO_OLAH_VENV, default
~/.cache/zoo/olah-venv); the test is skipped, saying so, when that venv is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo import hub

from .servers import free_port, serving

REPO_ID = "zoo-test/convtasnet-tiny"
TINY = dict(num_filters=16, bottleneck_channels=8, hidden_channels=16, skip_channels=8, num_blocks=2, num_repeats=1)
OLAH_VENV = Path(os.environ.get("ZOO_OLAH_VENV", Path.home() / ".cache" / "zoo" / "olah-venv"))
OLAH_PYTHON = OLAH_VENV / "bin" / "python"
SERVE = Path(__file__).resolve().parent.parent / "scripts" / "olah_serve.py"

pytestmark = pytest.mark.skipif(
    not OLAH_PYTHON.exists(), reason=f"no olah venv at {OLAH_VENV}; create it with `bash scripts/setup_olah.sh`"
)

WITH_ZOO = textwrap.dedent(
    f"""
    import numpy as np, torch, zoo
    from transformers import AutoModel, pipeline

    model = AutoModel.from_pretrained("{REPO_ID}").eval()
    assert type(model) is zoo.ConvTasNetForSourceSeparation, type(model)
    mixture = np.load("input.npy")
    with torch.no_grad():
        waveforms = model(torch.from_numpy(mixture)[None]).waveforms.numpy()
    np.testing.assert_allclose(waveforms, np.load("expected.npy"), rtol=0, atol=1e-6)

    separator = pipeline("audio-source-separation", model="{REPO_ID}")
    sources = separator(mixture, sampling_rate=8000)
    assert [s["label"] for s in sources] == ["source_1", "source_2"], sources
    assert all(s["audio"].shape == mixture.shape for s in sources)
    print("WITH ZOO OK")
    """
)

WITHOUT_ZOO = textwrap.dedent(
    f"""
    import sys
    sys.modules["zoo"] = None  # as where zoo is not installed
    import numpy as np, torch
    from transformers import AutoFeatureExtractor, AutoModel

    model = AutoModel.from_pretrained("{REPO_ID}", trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    features = AutoFeatureExtractor.from_pretrained("{REPO_ID}")
    with torch.no_grad():
        waveforms = model(**features(np.load("input.npy"), sampling_rate=8000, return_tensors="pt")).waveforms.numpy()
    np.testing.assert_allclose(waveforms, np.load("expected.npy"), rtol=0, atol=1e-6)
    print("WITHOUT ZOO OK")
    """
)


def git(*args, cwd):
    subprocess.run(
        ["git", "-c", "user.name=zoo", "-c", "user.email=zoo@localhost", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, check=True, capture_output=True,
    )


@pytest.fixture(scope="module")
def olah(tmp_path_factory):
    """`(endpoint, workdir)` of an olah serving REPO_ID as a git repo of a saved checkpoint."""
    work = tmp_path_factory.mktemp("olah")
    torch.manual_seed(0)
    model = zoo.ConvTasNetForSourceSeparation(zoo.ConvTasNetConfig(**TINY)).eval()
    repo = hub.save_checkpoint(
        model, work / "mirrors" / "models" / REPO_ID, task="audio-source-separation", repo_id=REPO_ID,
        datasets=["zoo-mix2-tts"], metrics={"si-snri": 1.0},
    )
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "tiny Conv-TasNet", cwd=repo)
    mixture = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    with torch.no_grad():
        np.save(work / "expected.npy", model(torch.from_numpy(mixture)[None]).waveforms.numpy())
    np.save(work / "input.npy", mixture)

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [str(OLAH_PYTHON), str(SERVE), "--mirrors", str(work / "mirrors"), "--port", str(port), "--workdir", str(work / "olah")]
    with serving(command, f"{endpoint}/api/models/{REPO_ID}/revision/main", work / "olah.log", 60, "olah", cwd=work):
        yield endpoint, work


def run_child(script: str, endpoint: str, work: Path, name: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and "proxy" not in k.lower()}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HUB_OFFLINE="0",
        HF_HOME=str(work / f"hf_home_{name}"),  # a fresh cache: every file comes over HTTP
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.pop("HF_TOKEN", None)
    return subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=180)


def test_from_pretrained_and_pipeline_by_repo_id(olah):
    endpoint, work = olah
    result = run_child(WITH_ZOO, endpoint, work, "with_zoo")
    assert result.returncode == 0, result.stdout + result.stderr + (work / "olah.log").read_text()[-3000:]
    assert "WITH ZOO OK" in result.stdout
    # the files really came over HTTP into the fresh cache
    snapshots = list((work / "hf_home_with_zoo" / "hub" / "models--zoo-test--convtasnet-tiny" / "snapshots").glob("*/*"))
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {p.name for p in snapshots}


def test_trust_remote_code_by_repo_id_without_zoo(olah):
    endpoint, work = olah
    result = run_child(WITHOUT_ZOO, endpoint, work, "without_zoo")
    assert result.returncode == 0, result.stdout + result.stderr + (work / "olah.log").read_text()[-3000:]
    assert "WITHOUT ZOO OK" in result.stdout


def test_model_info_and_missing_files_answer_like_the_hub(olah):
    endpoint, _ = olah
    with urllib.request.urlopen(f"{endpoint}/api/models/{REPO_ID}", timeout=10) as response:
        info = json.load(response)
    assert info["id"] == REPO_ID and info["cardData"]["pipeline_tag"] == "audio-to-audio"
    assert {"config.json", "model.safetensors", "README.md"} <= {s["rfilename"] for s in info["siblings"]}
    request = urllib.request.Request(f"{endpoint}/{REPO_ID}/resolve/main/no_such_file.json", method="HEAD")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 404 and error.value.headers["x-error-code"] == "EntryNotFound"
