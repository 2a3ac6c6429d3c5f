"""Compare zoo speaker-embedding checkpoints with resemblyzer's pretrained VoiceEncoder on the same trials.

resemblyzer (PyPI) ships a GE2E speaker encoder (Wan et al., 2018) trained on recorded speech, with its weights in
the wheel. It runs in a venv of its own (`bash scripts/setup_resemblyzer.sh`, default
~/.cache/zoo/resemblyzer-venv): this file is run there by path as a worker that reads the decoded audio from an .npz
and writes the embeddings as .npy, so both sides see exactly the same samples.

    python scripts/compare_resemblyzer.py checkpoints/ecapa-tdnn-zoo-16k checkpoints/xvector-zoo-16k \\
        --verification-corpus data/sessions --verification-corpus data/cry            # print one table
    python scripts/compare_resemblyzer.py checkpoints/ecapa-tdnn-zoo-16k --verification-corpus data/cry --write-cards

Trial sets (identical for every system; built by zoo.speaker.evaluate_speaker, as `zoo eval` builds them):
- pairs of recordings of the unseen voices (TTS voices never used in training) of the test split of `--corpus`
  (default: the first checkpoint's training corpus), every pair or `--max-trials` sampled with `--seed`;
- CryCeleb B->D trials of each `--verification-corpus` (enrollment on period B, tests on period D).

Each system scores trials by the cosine of L2-normalised embeddings, or, for a zoo checkpoint whose config says
`score_norm: s-norm`, by that cosine's s-norm against its training speakers (as its pipeline and `zoo eval` score);
an enrollment is the normalised mean of its recordings' embeddings (resemblyzer's own `embed_speaker` does the same). resemblyzer gets its own preprocessing
(volume normalisation and webrtcvad silence trimming, `preprocess_wav`), as its authors intend it to be used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESEMBLYZER_VENV = Path(os.environ.get("ZOO_RESEMBLYZER_VENV", Path.home() / ".cache" / "zoo" / "resemblyzer-venv"))
RESEMBLYZER_RATE = 16000  # resemblyzer.hparams.sampling_rate
RESEMBLYZER = "resemblyzer"
SECTION = "resemblyzer-comparison"
SETUP = "bash scripts/setup_resemblyzer.sh"


# ---------------------------------------------------------------------------------------------------------------
# 1. the worker, run inside the resemblyzer venv (numpy and resemblyzer only: zoo is not installed there)


def worker(inputs: str, output: str) -> None:
    """Embed every waveform of `inputs` (.npz: `audio` all samples at 16 kHz, `offsets` where each starts and ends)
    with resemblyzer; write `(recordings, 256)` float32 to `output` and `output`.json with the model's size."""
    import warnings

    warnings.filterwarnings("ignore")  # resemblyzer's imports (pkg_resources, scipy.ndimage.morphology) are noisy
    import importlib.metadata

    import torch
    from resemblyzer import VoiceEncoder, normalize_volume, preprocess_wav
    from resemblyzer.hparams import audio_norm_target_dBFS

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    data = np.load(inputs)
    audio, offsets = data["audio"], data["offsets"]
    encoder = VoiceEncoder("cpu", verbose=False)
    embeddings = np.zeros((len(offsets) - 1, 256), dtype=np.float32)
    untrimmed = 0
    for i in range(len(offsets) - 1):
        wav = audio[offsets[i] : offsets[i + 1]].astype(np.float32)
        processed = preprocess_wav(wav, source_sr=RESEMBLYZER_RATE)
        if len(processed) < RESEMBLYZER_RATE // 10:  # the VAD found (almost) no voice: keep the recording whole
            processed = normalize_volume(wav, audio_norm_target_dBFS, increase_only=True)
            untrimmed += 1
        embeddings[i] = encoder.embed_utterance(processed)
        if (i + 1) % 200 == 0:
            print(f"resemblyzer: {i + 1}/{len(embeddings)} recordings", file=sys.stderr, flush=True)
    np.save(output, embeddings)
    meta = {"parameters": int(sum(p.numel() for p in encoder.parameters())), "version": importlib.metadata.version("resemblyzer"), "untrimmed": untrimmed,
            "torch": torch.__version__}
    Path(output + ".json").write_text(json.dumps(meta))


# ---------------------------------------------------------------------------------------------------------------
# 2. systems: something that embeds rows of a dataset


@dataclass
class System:
    """A speaker embedder under comparison.

    Attributes:
        name: its row label.
        description: what it is (architecture, training data).
        parameters: its number of parameters, when known.
        embed: `embed(dataset, rows, desc) -> (len(dataset), dim)` L2-normalised embeddings (rows not asked for: any).
        cohort: `(speakers, dim)` s-norm cohort, None for cosine scores; `top_k` its closest speakers per statistic.
    """

    name: str
    description: str
    parameters: int | None
    embed: object
    cohort: object = None
    top_k: int = 200


def zoo_system(checkpoint: str, batch_size: int = 16) -> System:
    """A zoo speaker-embedding checkpoint, embedding with its own feature extractor at its own rate."""
    from zoo.speaker.evaluate_speaker import compute_embeddings, load_speaker_model
    from zoo.speaker.score_norm import DEFAULT_TOP_K, cohort_of

    model, feature_extractor = load_speaker_model(checkpoint)
    cohort, top_k = cohort_of(model), int(getattr(model.config, "score_norm_top_k", DEFAULT_TOP_K))

    def embed(dataset, rows, desc):
        return compute_embeddings(model, feature_extractor, dataset, rows=rows, batch_size=batch_size, desc=desc)

    name = Path(checkpoint).name
    data = _card_datasets(checkpoint)
    trained = f", trained on {', '.join(f'`{d}`' for d in data)}" if data else ""
    scoring = f"; s-norm scores against its {len(cohort)} training speakers (top {top_k})" if cohort is not None else ""
    return System(name, f"zoo `{type(model).__name__}` ({model.config.model_type}){trained}{scoring}", int(model.num_parameters()),
                  embed, cohort, top_k)


def _card_datasets(checkpoint: str) -> list[str]:
    path = Path(checkpoint) / "card_data.json"
    return list(json.loads(path.read_text()).get("datasets") or []) if path.is_file() else []


def resemblyzer_python(venv: Path = RESEMBLYZER_VENV) -> Path:
    """The resemblyzer venv's python; raises with the setup command when it is missing."""
    python = Path(venv) / "bin" / "python"
    if not python.is_file():
        raise FileNotFoundError(f"no resemblyzer venv at {venv}; create it with `{SETUP}` (or pass --no-resemblyzer)")
    return python


def resemblyzer_system(venv: Path = RESEMBLYZER_VENV) -> System:
    """resemblyzer's pretrained VoiceEncoder, run in its venv by the worker above."""
    from zoo.audio import load_audio

    python = resemblyzer_python(venv)
    system = System(RESEMBLYZER, "resemblyzer's pretrained GE2E `VoiceEncoder` (3-layer LSTM, 256-d), trained on recorded speech", None, None)

    def embed(dataset, rows, desc):
        rows = np.asarray(rows, dtype=np.int64)
        waveforms = [load_audio(item, RESEMBLYZER_RATE, name=f"{desc}: row {row}")
                     for row, item in zip(rows, dataset.select(rows.tolist())["audio"])]
        offsets = np.r_[0, np.cumsum([len(w) for w in waveforms])]
        with tempfile.TemporaryDirectory(prefix="zoo-resemblyzer-") as tmp:
            inputs, output = os.path.join(tmp, "audio.npz"), os.path.join(tmp, "embeddings.npy")
            np.savez(inputs, audio=np.concatenate(waveforms), offsets=offsets)
            print(f"{desc}: resemblyzer embeds {len(rows)} recordings in {venv} ...", file=sys.stderr, flush=True)
            done = subprocess.run([str(python), "-W", "ignore", os.path.abspath(__file__), "--worker", inputs, output], check=False)
            if done.returncode != 0:
                raise RuntimeError(f"the resemblyzer worker failed (exit {done.returncode}, see above); re-run `{SETUP}`")
            embedded = np.load(output)
            meta = json.loads(Path(output + ".json").read_text())
        system.parameters = meta["parameters"]
        if meta["untrimmed"]:
            print(f"{desc}: {meta['untrimmed']} recordings had no voice for webrtcvad; resemblyzer embedded them untrimmed", file=sys.stderr)
        embeddings = np.zeros((len(dataset), embedded.shape[1]), dtype=np.float32)
        embeddings[rows] = embedded
        return embeddings

    system.embed = embed
    return system


# ---------------------------------------------------------------------------------------------------------------
# 3. trial sets and scores


@dataclass
class TrialSet:
    """One set of trials over one dataset, shared by every system."""

    name: str  # the table column
    corpus: str
    split: str
    dataset: object
    trials: object  # zoo.speaker.evaluate_speaker.Trials


def trial_sets(corpus: str, split: str = "test", verification_corpora=(), verification_split: str = "test",
               max_trials: int | None = None, seed: int = 1234, sampling_rate: int = 16000) -> list[TrialSet]:
    """The unseen-voice pair trials of `corpus`'s `split` and the B->D trials of every verification corpus."""
    from zoo.speaker.evaluate_speaker import (
        load_split,
        pair_trials,
        period_split,
        period_trials,
    )

    test = load_split(corpus, split, sampling_rate)
    if "unseen_voice" in test.column_names:
        rows, who = np.flatnonzero(np.asarray(test["unseen_voice"], dtype=bool)), "unseen voices"
        if len(rows) == 0:
            raise ValueError(f"the {split} split of {corpus} has no unseen_voice rows; pass a `zoo data speech` corpus")
    else:
        rows, who = None, "held-out speakers"
    sets = [TrialSet(f"{Path(corpus).name} {split}, {who}", corpus, split, test,
                     pair_trials(test["speaker_id"], rows, max_trials=max_trials, seed=seed, name=who))]
    for other in verification_corpora:
        dataset, used = period_split(other, verification_split, sampling_rate)
        sets.append(TrialSet(f"{Path(other).name} {used}, B->D", other, used, dataset,
                             period_trials(dataset["speaker_id"], dataset["period"], name="B->D")))
    return sets


def compare(systems: list[System], sets: list[TrialSet]) -> dict:
    """`{system name: {set name: verification_metrics(...)}}`, every system scored on the very same trials."""
    from zoo.speaker.evaluate_speaker import verification_metrics

    results: dict[str, dict[str, dict]] = {}
    for system in systems:
        for trial_set in sets:
            embeddings = system.embed(trial_set.dataset, trial_set.trials.rows, f"{system.name} on {trial_set.name}")
            scores = trial_set.trials.scores(embeddings, cohort=system.cohort, top_k=system.top_k)
            results.setdefault(system.name, {})[trial_set.name] = verification_metrics(scores, trial_set.trials.labels)
    return results


def comparison_table(systems: list[System], sets: list[TrialSet], results: dict) -> str:
    """Markdown: a row per system, an "EER (%) / minDCF" column per trial set, and a caption saying what was measured.

    >>> from zoo.speaker.evaluate_speaker import pair_trials
    >>> sets = [TrialSet("speech test, unseen voices", "data/speech", "test", None, pair_trials(["a", "a", "b"]))]
    >>> systems = [System("ours", "a model", 2_500_000, None), System("resemblyzer", "GE2E", 1_423_616, None)]
    >>> results = {"ours": {sets[0].name: {"eer": 1.234, "min_dcf": 0.1}}, "resemblyzer": {sets[0].name: {"eer": 5.0, "min_dcf": 0.5}}}
    >>> print(comparison_table(systems, sets, results).split("\\n\\n")[1])
    | System | Parameters | speech test, unseen voices (1 / 2 trials) |
    |---|---|---|
    | ours | 2.50 M | **1.23** / 0.1000 |
    | resemblyzer | 1.42 M | 5.00 / 0.5000 |
    """
    header = ["System", "Parameters"] + [f"{s.name} ({s.trials.counts()[0]:,} / {s.trials.counts()[1]:,} trials)" for s in sets]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best = {s.name: min(results[system.name][s.name]["eer"] for system in systems) for s in sets}
    for system in systems:
        cells = [system.name, f"{system.parameters / 1e6:.2f} M" if system.parameters else "–"]
        for s in sets:
            metrics = results[system.name][s.name]
            rate = f"{metrics['eer']:.2f}"
            cells.append(f"{'**' + rate + '**' if len(systems) > 1 and metrics['eer'] == best[s.name] else rate} / {metrics['min_dcf']:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    caption = (
        "EER (%) / minDCF (p_target 0.01) of each system on the same trials (target / non-target counts in the header), "
        "cosine scoring (s-norm where a system's line below says so). Pair trials are between recordings of TTS voices never used in zoo's training (espeak-ng en-029, "
        "flite rms); B->D trials enroll each speaker on its period-B recordings and test every period-D recording "
        "(the CryCeleb protocol). The zoo corpora are synthetic (TTS speech, source-filter cries); resemblyzer was trained "
        "on recorded speech, so these sets are out of its domain as much as real recordings are out of ours."
    )
    systems_list = "\n".join(f"- **{s.name}**: {s.description}" for s in systems)
    return "\n\n".join([caption, "\n".join(lines), systems_list])


# ---------------------------------------------------------------------------------------------------------------
# 4. command line


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        worker(*argv[1:3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Set up resemblyzer first: " + SETUP)
    parser.add_argument("checkpoints", nargs="*", help="zoo speaker-embedding checkpoint folders")
    parser.add_argument("--corpus", help="speech corpus for the unseen-voice pair trials (default: the first checkpoint's recipe corpus)")
    parser.add_argument("--split", default="test", help="its split (default: test)")
    parser.add_argument("--verification-corpus", action="append", default=[], metavar="PATH_OR_HUB_ID",
                        help="a corpus with speaker_id and period (B/D) columns for CryCeleb trials; repeat for several")
    parser.add_argument("--verification-split", default="test", help="their split (default: test, else validation)")
    parser.add_argument("--max-trials", type=int, help="sample about this many pair trials (default: every pair)")
    parser.add_argument("--seed", type=int, default=1234, help="trial sampling seed, as `zoo eval` (default: 1234)")
    parser.add_argument("--batch-size", type=int, default=16, help="recordings per forward pass of the zoo models")
    parser.add_argument("--venv", type=Path, default=RESEMBLYZER_VENV, help=f"resemblyzer's venv (default {RESEMBLYZER_VENV})")
    parser.add_argument("--no-resemblyzer", action="store_true", help="compare the zoo checkpoints only")
    parser.add_argument("--write-cards", action="store_true", help="write the table into each checkpoint's card under 'Comparison with resemblyzer'")
    parser.add_argument("--output", type=Path, help="also write the table (markdown) and the numbers (.json beside it) here")
    args = parser.parse_args(argv)

    import yaml

    corpus = args.corpus
    if corpus is None:
        recipes = [Path(c) / "recipe.yaml" for c in args.checkpoints if (Path(c) / "recipe.yaml").is_file()]
        if not recipes:
            parser.error("pass --corpus PATH (no checkpoint with a recipe.yaml names one)")
        corpus = yaml.safe_load(recipes[0].read_text())["data"]["corpus"]
    if not args.checkpoints and args.no_resemblyzer:
        parser.error("nothing to compare: pass checkpoints, or drop --no-resemblyzer")
    if args.write_cards and not args.checkpoints:
        parser.error("--write-cards writes into checkpoints' cards; pass at least one checkpoint")

    systems = [] if args.no_resemblyzer else [resemblyzer_system(args.venv)]
    systems = [zoo_system(c, args.batch_size) for c in args.checkpoints] + systems
    sets = trial_sets(corpus, args.split, args.verification_corpus, args.verification_split, args.max_trials, args.seed)
    results = compare(systems, sets)
    table = comparison_table(systems, sets, results)
    print(table)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table + "\n")
        numbers = {name: {s: {k: v for k, v in m.items()} for s, m in per_set.items()} for name, per_set in results.items()}
        args.output.with_suffix(".json").write_text(json.dumps(numbers, indent=2) + "\n")
    if args.write_cards:
        from zoo.hub import update_card_section

        command = "python scripts/compare_resemblyzer.py " + " ".join(argv)
        for checkpoint in args.checkpoints:
            update_card_section(checkpoint, SECTION, f"### Comparison with resemblyzer\n\n{table}\n\nMeasured by `{command}`.")
            print(f"comparison written into {Path(checkpoint) / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
