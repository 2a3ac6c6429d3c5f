#!/usr/bin/env bash
# Sepformer speed / peak memory against SpeechBrain's SepFormer at the published configuration, in one run,
# plus our scaling over 1, 10 and 60 s inputs. Creates its own torch 2.9.1 + torchaudio + speechbrain venv once.
#   bash scripts/bench_separation.sh [--bf16] [--runs N] ...   (see `zoo bench separation --help`)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${ZOO_VENV:-.venv}/bin/zoo" bench separation "$@"
