#!/usr/bin/env bash
# Create, once, the venv that resemblyzer's pretrained VoiceEncoder runs in for scripts/compare_resemblyzer.py.
# resemblyzer gets its own venv: it needs setuptools<81 (webrtcvad imports pkg_resources, which setuptools 81
# removed) and librosa (numba, llvmlite), none of which zoo's venv carries or should pin. Its GE2E weights ship
# inside the wheel, so nothing is downloaded at run time.
#
#   bash scripts/setup_resemblyzer.sh     # -> $ZOO_RESEMBLYZER_VENV, default ~/.cache/zoo/resemblyzer-venv
set -euo pipefail

VENV="${ZOO_RESEMBLYZER_VENV:-$HOME/.cache/zoo/resemblyzer-venv}"
RESEMBLYZER_VERSION="0.1.4"
TORCH_VERSION="2.13.0"  # the CPU build, as scripts/setup.sh installs it for zoo
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -W ignore - "$RESEMBLYZER_VERSION" <<'PY' 2>/dev/null
import importlib.metadata, sys
from resemblyzer import VoiceEncoder  # noqa: F401  (imports librosa and webrtcvad too)
sys.exit(importlib.metadata.version("resemblyzer") != sys.argv[1])
PY
then
    echo "resemblyzer $RESEMBLYZER_VERSION is ready in $VENV"
    exit 0
fi

"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" wheel
"${PIP[@]}" "torch==$TORCH_VERSION" numpy soundfile soxr
# webrtcvad is an sdist (needs a C compiler); webrtcvad-wheels is the same module prebuilt
if ! "${PIP[@]}" "resemblyzer==$RESEMBLYZER_VERSION"; then
    "${PIP[@]}" webrtcvad-wheels librosa scipy typing
    "${PIP[@]}" --no-deps "resemblyzer==$RESEMBLYZER_VERSION"
fi
# last: a dependency above may have upgraded setuptools past 80, which drops pkg_resources
"${PIP[@]}" "setuptools<81"
"$VENV/bin/python" -W ignore -c "from resemblyzer import VoiceEncoder; VoiceEncoder('cpu', verbose=False)"
echo "resemblyzer $RESEMBLYZER_VERSION installed in $VENV"
