#!/usr/bin/env bash
# Install everything a fresh Debian machine needs to run the zoo, its demo and its tests. Idempotent:
# a second run finds everything in place and only checks it.
#   ZOO_VENV   virtual environment to use (default: .venv in the repo)
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. Debian packages: TTS engines and text sources for the corpora, sox/fluidsynth for sounds,
#    ffmpeg for mp3/m4a and torchcodec, chromium for the browser tests.
APT_PACKAGES=(espeak-ng flite sox libsox-fmt-all fluidsynth fluid-soundfont-gm fortunes wordnet-base dict-gcide
              festival festvox-kdlpc16k festvox-kallpc16k festvox-us-slt-hts  # festival: extra ASR training voices
              ffmpeg libsndfile1 chromium git python3-venv g++)  # g++: kenlm builds from source
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. Python: the CPU torch wheel first (an open range would pull a multi-GB CUDA build), then the project.
VENV="${ZOO_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
    || "$PY" -m pip install -q torch==2.13.0
if ! "$PY" -c "import zoo, pytest, playwright" 2>/dev/null || [ pyproject.toml -nt "$VENV/.zoo-installed" ]; then
    "$PY" -m pip install -q -e ".[test]"
    touch "$VENV/.zoo-installed"
fi

# 2b. n-gram LM beam search (`zoo lm`, the *-lm checkpoints): kenlm builds from source (g++, cmake from PyPI);
#     pyctcdecode pins numpy<2 but runs on numpy 2, so it goes in without its dependencies (pygtrie is its real one)
if ! "$PY" -c "import kenlm, pyctcdecode" 2>/dev/null; then
    "$PY" -m pip install -q kenlm pygtrie  # the "lm" extra of pyproject.toml
    "$PY" -m pip install -q --no-deps pyctcdecode==0.5.0
fi

# 3. olah (its own venv) serves local git repos through the Hub API for the download-by-repo-id tests.
if [ -f scripts/setup_olah.sh ]; then
    bash scripts/setup_olah.sh
fi
echo "setup: ready ($("$PY" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
