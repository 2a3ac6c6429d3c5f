#!/usr/bin/env bash
# Create, once, the venv that olah (a Hub mirror server) runs in for tests/test_olah.py.
# olah gets its own venv because its fastapi/pydantic pins are not zoo's (gradio's).
# scripts/olah_serve.py patches two olah internals, so the version is pinned.
#
#   bash scripts/setup_olah.sh            # -> $ZOO_OLAH_VENV, default ~/.cache/zoo/olah-venv
set -euo pipefail

VENV="${ZOO_OLAH_VENV:-$HOME/.cache/zoo/olah-venv}"
OLAH_VERSION="0.5.4"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$OLAH_VERSION" <<'EOF' 2>/dev/null
import importlib.metadata, sys
sys.exit(importlib.metadata.version("olah") != sys.argv[1])
EOF
then
    echo "olah $OLAH_VERSION is ready in $VENV"
    exit 0
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "olah==$OLAH_VERSION"
echo "olah $OLAH_VERSION installed in $VENV"
