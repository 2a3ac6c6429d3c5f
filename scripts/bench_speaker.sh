#!/usr/bin/env bash
# ECAPA-TDNN speed / peak memory against SpeechBrain's ECAPA_TDNN at the published configuration (1024 channels,
# 192-d) on a batch of 16 x 3 s, in one run, plus the real-time factor of our whole embedding pipeline.
# Creates its own torch 2.9.1 + torchaudio + speechbrain venv once (shared with bench_separation.sh).
#   bash scripts/bench_speaker.sh [--bf16] [--ragged] [--runs N] [--checkpoint checkpoints/ecapa-tdnn-zoo-16k] ...
#   (see `zoo bench speaker --help`)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${ZOO_VENV:-.venv}/bin/zoo" bench speaker "$@"
