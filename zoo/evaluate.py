"""`zoo eval`: measure a checkpoint on held-out data and write the results into its model card.

    zoo eval checkpoints/convtasnet-zoo-2mix-8k                 # test mixtures of held-out speakers
    zoo eval checkpoints/convtasnet-zoo-2mix-8k --no-card       # print only
    zoo eval checkpoints/sisnr-estimator-zoo-8k                 # a blind SI-SNR estimator: Pearson and MAE
    zoo eval checkpoints/ctc-conformer-zoo-16k                  # speech recognition: WER, CER (all, unseen voices, per engine)
    zoo eval checkpoints/transformer-asr-joint-zoo-16k --num-beams 1 --ctc-weight 0   # a seq2seq recognizer decoded
                                                                # greedily; default: its generation_config (joint CTC, LM)
    zoo eval checkpoints/ecapa-tdnn-zoo-16k --verification-corpus data/cry   # speaker embeddings: EER, minDCF
                                                                # (options: zoo eval SPEAKER_CHECKPOINT --help)
    zoo eval --table checkpoints/convtasnet-zoo-2mix-8k checkpoints/sepformer-zoo-2mix-8k ...
                                                                # one table: every model on every test condition

The test set comes from the recipe stored in the checkpoint (`recipe.yaml`): the same corpus and mixing
settings as training, on the `test` split, whose speakers never appear in training. An SI-SNR estimator
(`speech-quality-assessment`) is scored on its recipe's separators' outputs for mixtures of unseen voices.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import yaml


def separation_scores(estimates: np.ndarray, references: np.ndarray, mixture: np.ndarray) -> dict:
    """SI-SNRi and SDRi (dB) of one example, averaged over its sources.

    SDR comes from mir_eval's BSS Eval (which also picks the best permutation); SI-SNR from `zoo.metrics`
    on the permutation mir_eval chose. Shapes: estimates/references `(sources, time)`, mixture `(time,)`.
    """
    import warnings

    import mir_eval

    from .metrics import si_snr

    # mir_eval 0.8 deprecates bss_eval_sources in favour of nothing yet; it is still the reference SDR
    warnings.filterwarnings("ignore", message=".*bss_eval_sources.*", category=FutureWarning)

    sdr, _, _, perm = mir_eval.separation.bss_eval_sources(references, estimates, compute_permutation=True)
    mixture_repeated = np.repeat(mixture[None], references.shape[0], axis=0)
    sdr_mix, _, _, _ = mir_eval.separation.bss_eval_sources(references, mixture_repeated, compute_permutation=False)
    matched = torch.from_numpy(estimates[perm])
    refs = torch.from_numpy(references)
    si = si_snr(matched, refs).mean().item()
    si_mix = si_snr(torch.from_numpy(mixture_repeated), refs).mean().item()
    return {"si_snri": si - si_mix, "sdri": float(np.mean(sdr) - np.mean(sdr_mix)), "si_snr": si}


def enhancement_scores(estimate: np.ndarray, reference: np.ndarray, mixture: np.ndarray, sampling_rate: int) -> dict:
    """PESQ (`pesq` package; wide-band at 16 kHz, narrow-band at 8 kHz) and STOI (`pystoi`) of one enhanced
    signal, and of the noisy input for reference. Shapes: `(time,)`. A PESQ the package cannot compute (no
    speech found) is left out rather than counted as a number."""
    from pesq import PesqError, pesq
    from pystoi import stoi

    scores = {}
    mode = "wb" if sampling_rate == 16000 else "nb"
    try:
        scores["pesq"] = float(pesq(sampling_rate, reference, estimate, mode))
        scores["pesq_input"] = float(pesq(sampling_rate, reference, mixture, mode))
    except PesqError:
        pass
    scores["stoi"] = float(stoi(reference, estimate, sampling_rate, extended=False))
    scores["stoi_input"] = float(stoi(reference, mixture, sampling_rate, extended=False))
    return scores


def evaluate_separation(
    checkpoint: str, recipe: dict, split: str, num_examples: int, unseen_only: bool, seed: int, by_voices: Optional[dict] = None,
    by_speakers: Optional[dict] = None,
) -> dict:
    """Mean SI-SNRi / SDRi (and PESQ / STOI for enhancement) over `num_examples` test mixtures.

    `by_voices`, when given and the corpus has a ``voice`` column, receives the SI-SNRi of every mixture under
    its speakers' voices, e.g. ``"en-029 + rms"``; `by_speakers`, when given, under each of its speakers (a mixture
    counts once for every speaker in it), e.g. ``"flite_rms_f70"``.
    """
    from datasets import load_from_disk
    from tqdm.auto import tqdm

    from .data.mixtures import DynamicMixer
    from .registry import AUTO_CLASSES

    data = recipe["data"]
    speech = load_from_disk(data["corpus"])[split]
    if unseen_only:
        speech = speech.filter(lambda unseen: unseen, input_columns="unseen_voice")
        if len(speech) == 0:
            raise ValueError(f"the {split} split of {data['corpus']} has no unseen-voice utterances")
    mixer = DynamicMixer(
        speech,
        num_speakers=int(data.get("num_speakers", 2)),
        sampling_rate=int(data["sampling_rate"]),
        segment_seconds=float(data.get("validation_seconds", 4.0)),
        condition=data.get("condition", "clean"),
        seed=seed,
        length=num_examples,
        split=split,
    )
    model = AUTO_CLASSES[recipe["task"]].from_pretrained(checkpoint).eval()
    rate = int(data["sampling_rate"])
    totals: dict[str, list[float]] = {}
    voice_of = dict(zip(speech["speaker_id"], speech["voice"])) if "voice" in speech.column_names else {}
    for index in tqdm(range(len(mixer)), desc=f"eval {Path(checkpoint).name} on {split}{' (unseen voices)' if unseen_only else ''}"):
        item = mixer[index]
        mixture = np.asarray(item["mixture"], dtype=np.float32)
        references = np.asarray(item["sources"], dtype=np.float32)
        with torch.no_grad():
            estimates = model(torch.from_numpy(mixture)[None]).waveforms[0].numpy().astype(np.float64)
        scores = separation_scores(estimates, references.astype(np.float64), mixture.astype(np.float64))
        if recipe["task"] == "speech-enhancement":
            scores |= enhancement_scores(estimates[0], references[0].astype(np.float64), mixture.astype(np.float64), rate)
        for name, value in scores.items():
            totals.setdefault(name, []).append(value)
        if by_voices is not None and voice_of:
            by_voices.setdefault(" + ".join(sorted(voice_of[speaker] for speaker in item["speakers"])), []).append(scores["si_snri"])
        if by_speakers is not None:
            for speaker in item["speakers"]:
                by_speakers.setdefault(speaker, []).append(scores["si_snri"])
    return {name: round(float(np.mean(values)), 2) for name, values in totals.items()} | {"examples": len(mixer)}


def evaluate_quality(checkpoint: str, recipe: dict, split: str, num_examples: int, seed: int, batch_size: int = 16) -> dict:
    """Pearson correlation and MAE (dB) of a blind SI-SNR estimator on mixtures of unseen voices.

    The recipe's separators separate `num_examples` mixtures of the `split` utterances of unseen voices; every
    estimate (and its degraded copies, as in training) is scored by the estimator and by its true SI-SNR.
    Returns `{"separator outputs": {...}, "separator outputs + degraded copies": {...}}`, each with `pearson`,
    `mae_db` (against true SI-SNRs clipped to the model's `si_snr_range`) and `examples`.
    """
    from datasets import load_from_disk
    from tqdm.auto import tqdm
    from transformers import AutoModel

    from .tasks import QualityEstimationTask, pearson

    data = recipe["data"]
    speech = load_from_disk(data["corpus"])[split].filter(lambda unseen: unseen, input_columns="unseen_voice")
    if len(speech) == 0:
        raise ValueError(f"the {split} split of {data['corpus']} has no unseen-voice utterances")
    task = QualityEstimationTask(recipe)
    examples = task.separated(speech, split, num_examples, float(data.get("validation_seconds", 4.0)), seed, cache=False)
    model = AutoModel.from_pretrained(checkpoint).eval()
    predicted, target, degraded = [], [], []
    starts = range(0, len(examples), batch_size)
    for start in tqdm(starts, desc=f"eval {Path(checkpoint).name} on {split} (unseen voices)", unit="batch"):
        items = [examples[i] for i in range(start, min(start + batch_size, len(examples)))]
        batch = task.collate(items)
        with torch.no_grad():
            scores = model.estimate(batch["input_values"], batch["estimates"], batch["attention_mask"])
        predicted.append(scores.reshape(-1).float())
        target.append(batch["labels"].reshape(-1))
        degraded += [bool(item["degraded"]) for item in items]
    predicted, target, degraded = torch.cat(predicted), torch.cat(target), torch.tensor(degraded)
    target = target.clamp(*model.config.si_snr_range)  # predictions live in this range, as in training's validation
    results = {}
    for name, keep in (("separator outputs", ~degraded), ("separator outputs + degraded copies", torch.ones_like(degraded))):
        p, t = predicted[keep], target[keep]
        results[name] = {"pearson": round(pearson(p, t), 3), "mae_db": round(float((p - t).abs().mean()), 2), "examples": int(keep.sum())}
    return results


# the test conditions of `zoo eval --table`, like the SepFormer paper's table: (column, speakers, condition)
TABLE_CONDITIONS = (
    ("2-mix", 2, "clean"),
    ("3-mix", 3, "clean"),
    ("2-mix + noise (WHAM!-style)", 2, "noisy"),
    ("2-mix + reverb", 2, "reverb"),
)


def evaluate_table(checkpoints: list[str], split: str, num_examples: int, seed: int) -> tuple[dict, str]:
    """Every separation checkpoint on every test condition with its number of speakers, unseen voices only.

    Returns `({checkpoint: [result, ...]}, markdown)`: the results in `update_card_results` form and one table,
    a row per model and a column per condition (SI-SNRi / SDRi in dB), "n/a" where the model's number of speakers
    does not fit the condition. The mixtures are the same for every model (same corpus, split and seed).
    """
    from transformers import AutoConfig

    rows, results, corpora = [], {}, []
    for checkpoint in checkpoints:
        recipe = yaml.safe_load((Path(checkpoint) / "recipe.yaml").read_text())
        corpora.append(recipe["data"]["corpus"])
        if recipe["task"] != "audio-source-separation":
            raise ValueError(f"--table compares source separation checkpoints; {checkpoint} is {recipe['task']!r}")
        config = AutoConfig.from_pretrained(checkpoint)
        cells, results[checkpoint] = [], []
        for column, speakers, condition in TABLE_CONDITIONS:
            if speakers != config.num_speakers:
                cells.append("n/a")
                continue
            test = {**recipe, "data": {**recipe["data"], "num_speakers": speakers, "condition": condition}}
            metrics = evaluate_separation(checkpoint, test, split, num_examples, True, seed)
            cells.append(f"{metrics['si_snri']:.2f} / {metrics['sdri']:.2f}")
            results[checkpoint].append(
                _result(recipe["task"], f"{recipe['data']['corpus']} ({_condition_name(test)}, unseen voices)", split, metrics)
            )
            print(json.dumps(results[checkpoint][-1]))
        from .registry import AUTO_CLASSES

        parameters = AUTO_CLASSES[recipe["task"]].from_pretrained(checkpoint).num_parameters() / 1e6
        rows.append(f"| {Path(checkpoint).name} | {config.model_type} | {parameters:.2f} M | " + " | ".join(cells) + " |")
    header = "| Model | Architecture | Parameters | " + " | ".join(c[0] for c in TABLE_CONDITIONS) + " |"
    rule = "|" + "---|" * (3 + len(TABLE_CONDITIONS))
    corpus = corpora[0]
    caption = (
        f"SI-SNRi / SDRi (dB) on {num_examples} {split} mixtures per condition of unseen voices (espeak-ng en-029, flite rms: "
        f"TTS voices never used in training) from {corpus}, mixed with seed {seed}; the same mixtures for every model. "
        "Noise: sox / fluidsynth noise at WHAM!-like SNRs; reverb: pyroomacoustics rooms (RT60 0.2-0.6 s), direct-path targets. "
        "Measured by `zoo eval --table " + " ".join(str(c) for c in checkpoints) + f" --num-examples {num_examples}`."
    )
    return results, "\n".join([caption, "", header, rule, *rows])


def pocketsphinx_transcribe(waveform: np.ndarray, sampling_rate: int = 16000, decoder=None) -> str:
    """The transcript of one 16 kHz utterance by pocketsphinx's default US English model (shipped in its wheel)."""
    from pocketsphinx import Decoder

    decoder = decoder or Decoder(samprate=sampling_rate)
    decoder.start_utt()
    decoder.process_raw((np.clip(waveform, -1.0, 1.0) * 32767).astype(np.int16).tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis is not None else ""


def evaluate_asr(
    checkpoint: str, recipe: dict, split: str, batch_size: int = 16, max_examples: int | None = None, seed: int = 1234,
    peer: str | None = None, generate_kwargs: dict | None = None,
) -> dict:
    """WER and CER (fractions, via `zoo.metrics` on jiwer) of a speech recognizer through transformers' stock
    `pipeline("automatic-speech-recognition")` (greedy CTC, or CTC beam search with the folder's n-gram LM when it
    carries one: `zoo lm attach`), on the `split` utterances: all of them, the unseen voices
    (together and each apart), the held-out speakers of training voices, and per TTS engine; plus the real-time factor of the whole pipeline. `max_examples` scores a seeded random
    subset; `peer="pocketsphinx"` also transcribes the same audio with pocketsphinx; `generate_kwargs` (a seq2seq
    recognizer: `num_beams`, `ctc_weight`, `lm_weight`) override the checkpoint's decoding defaults in every pipeline
    call. Returns `{system: {group: metrics}}`."""
    import time

    from tqdm.auto import tqdm
    from transformers import pipeline

    from .asr.processing_asr import normalize_text
    from .data.hub import load_corpus
    from .metrics import cer, wer

    data = recipe["data"]
    rate = int(data["sampling_rate"])
    rows = load_corpus(data["corpus"], split=split, sampling_rate=rate)
    if max_examples is not None and max_examples < len(rows):
        rows = rows.shuffle(seed=seed).select(range(max_examples))
    recognizer = pipeline("automatic-speech-recognition", model=checkpoint, device="cpu")
    systems = {Path(checkpoint).name: []} | ({peer: []} if peer else {})
    if peer not in (None, "pocketsphinx"):
        raise ValueError(f"unknown ASR peer {peer!r}; the one supported is pocketsphinx (pip install pocketsphinx)")
    decoder = None
    if peer == "pocketsphinx":
        from pocketsphinx import Decoder

        decoder = Decoder(samprate=rate)
    references, seconds, elapsed = [], 0.0, dict.fromkeys(systems, 0.0)
    for start in tqdm(range(0, len(rows), batch_size), desc=f"eval {' + '.join(systems)} on {split}", unit="batch"):
        batch = rows[start : start + batch_size]
        waves = [np.asarray(a["array"], dtype=np.float32) for a in batch["audio"]]
        seconds += sum(len(w) / rate for w in waves)
        began = time.perf_counter()
        outputs = recognizer([{"raw": w, "sampling_rate": rate} for w in waves], batch_size=batch_size, **(generate_kwargs or {}))
        elapsed[Path(checkpoint).name] += time.perf_counter() - began
        systems[Path(checkpoint).name] += [normalize_text(output["text"]) for output in outputs]
        if decoder is not None:
            began = time.perf_counter()
            systems[peer] += [normalize_text(pocketsphinx_transcribe(w, rate, decoder)) for w in waves]
            elapsed[peer] += time.perf_counter() - began
        references += [normalize_text(text) for text in batch["text"]]
    groups = asr_groups(rows, split)
    results = {}
    for system, hypotheses in systems.items():
        results[system] = {}
        for name, keep in groups.items():
            if keep:
                refs, hyps = [references[i] for i in keep], [hypotheses[i] for i in keep]
                results[system][name] = {"wer": round(wer(refs, hyps), 4), "cer": round(cer(refs, hyps), 4), "examples": len(keep)}
        results[system][f"{split} speakers, all"]["rtf"] = round(elapsed[system] / max(seconds, 1e-9), 4)
        for reference, hypothesis in list(zip(references, hypotheses))[:2]:
            print(f"  {system}\n    REF: {reference}\n    HYP: {hypothesis}")
    return results


def asr_groups(rows, split: str) -> dict[str, list[int]]:
    """The utterance groups `zoo eval` scores a recognizer on, as `{name: row indices}`: every `split` speaker; when
    the corpus says which voices were never used in training (`unseen_voice`), those (together and, with `engine` and
    `voice`, each apart, e.g. ``"unseen voice flite rms"``) and the held-out speakers of training voices; and each
    TTS engine's voices."""
    columns = set(rows.column_names)
    groups = {f"{split} speakers, all": list(range(len(rows)))}
    if "unseen_voice" in columns:
        unseen = rows["unseen_voice"]
        groups["unseen voices"] = [i for i, u in enumerate(unseen) if u]
        groups["held-out speakers of training voices"] = [i for i, u in enumerate(unseen) if not u]
        if {"engine", "voice"} <= columns:  # each unseen voice apart: where the errors are
            keys = [f"{engine} {voice}" for engine, voice in zip(rows["engine"], rows["voice"])]
            for key in sorted({keys[i] for i in groups["unseen voices"]}):
                groups[f"unseen voice {key}"] = [i for i in groups["unseen voices"] if keys[i] == key]
    if "engine" in columns:
        for engine in sorted(set(rows["engine"])):
            groups[f"{engine} voices"] = [i for i, e in enumerate(rows["engine"]) if e == engine]
    return groups


def evaluate_char_lm(checkpoint: str, recipe: dict, split: str, corpus: str | None = None, batch_size: int = 64) -> dict:
    """Bits per character and perplexity of a character LM (`char_lm`) on the transcripts of a corpus split: by
    default the first of its recipe's `data.exclude_corpora`, whose sentences it never saw in training (the
    recognizers' validation and test sentences). Returns `{"bits_per_char", "perplexity", "examples", "corpus"}`."""
    from transformers import AutoModelForCausalLM

    from .data.hub import load_corpus
    from .tasks import CharLmTask

    corpus = corpus or next(iter(recipe["data"].get("exclude_corpora") or []), None)
    if corpus is None:
        raise ValueError("the LM's recipe names no data.exclude_corpora to measure on; pass --corpus")
    task = CharLmTask(recipe)
    texts = [{"text": text} for text in _normalized(load_corpus(str(corpus), split=split)["text"]) if text]
    model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    values: dict[str, list] = {}
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = task.collate(texts[start : start + batch_size])
            for name, value in task.metrics(batch, model(**batch)).items():
                values.setdefault(name, []).append(value)
    metrics = task.corpus_metrics({name: torch.cat(parts) for name, parts in values.items()})
    return {"bits_per_char": round(metrics["bits_per_char"], 4), "perplexity": round(metrics["perplexity"], 3), "examples": len(texts), "corpus": str(corpus)}


def _normalized(texts) -> list[str]:
    from .asr.processing_asr import normalize_text

    return [normalize_text(text) for text in texts]


def split_size(results: dict) -> int:
    return max(m["examples"] for system in results.values() for m in system.values())


def asr_comparison_table(results: dict, caption: str) -> str:
    """Markdown: a row per system, WER / CER per group, and the real-time factor."""
    systems = list(results)
    groups = list(results[systems[0]])
    lines = [caption, "", "| System | " + " | ".join(f"{g} WER / CER" for g in groups) + " | Real-time factor |", "|---|" + "---|" * (len(groups) + 1)]
    for system in systems:
        cells = [f"{results[system][g]['wer']:.3f} / {results[system][g]['cer']:.3f}" for g in groups]
        rtf = next(m["rtf"] for m in results[system].values() if "rtf" in m)
        lines.append(f"| {system} | " + " | ".join(cells) + f" | {rtf:.4f} |")
    return "\n".join(lines)


def record_peer_results(checkpoint, peer: str, measured: dict, split: str, command: str) -> None:
    """Keep a peer's results on the checkpoint's evaluation audio in its card data (`peer_results`, not in the
    model-index: they are not this model's), so `scripts/asr_table.py` can put the peer in the comparison table."""
    from . import cards

    card = cards.load_card_data(checkpoint)
    card.setdefault("peer_results", {})[peer] = {"split": split, "results": measured, "command": command}
    cards.write_card(checkpoint, card)


def seq2seq_decoding(checkpoint, overrides: dict | None = None) -> dict | None:
    """The decoding settings (`num_beams`, `ctc_weight`, `lm_weight`) the stock pipeline runs a seq2seq recognizer
    checkpoint with: its generation_config.json's, under `overrides` (those not None); None for a CTC checkpoint."""
    folder = Path(checkpoint)
    if not json.loads((folder / "config.json").read_text()).get("is_encoder_decoder"):
        return None
    path = folder / "generation_config.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    settings = {"num_beams": saved.get("num_beams", 1), "ctc_weight": saved.get("ctc_weight", 0.0), "lm_weight": saved.get("lm_weight", 0.0)}
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return settings


def describe_seq2seq_decoding(settings: dict) -> str:
    """`{"num_beams": 4, "ctc_weight": 0.3, "lm_weight": 0.0}` -> "beam 4, CTC weight 0.3, no LM"."""
    if settings["num_beams"] == 1 and not settings["ctc_weight"] and not settings["lm_weight"]:
        return "greedy attention decoding"
    lm = f"LM weight {settings['lm_weight']:g}" if settings["lm_weight"] else "no LM"
    return f"beam {settings['num_beams']}, CTC weight {settings['ctc_weight']:g}, {lm}"


def _asr_decoding(checkpoint, overrides: dict | None = None) -> str:
    """How the stock pipeline decodes a CTC checkpoint: greedily, or by beam search with the folder's n-gram LM; a
    seq2seq one: as `describe_seq2seq_decoding` says."""
    from .asr.lm import is_lm_checkpoint

    settings = seq2seq_decoding(checkpoint, overrides)
    if settings is not None:
        return describe_seq2seq_decoding(settings)
    return "CTC beam search with its n-gram LM" if is_lm_checkpoint(checkpoint) else "greedy CTC"


def _result(task: str, dataset: str, split: str, metrics: dict) -> dict:
    """One measured result in `update_card_results` form; `metrics["examples"]` is the number of examples."""
    return {
        "task": task,
        "dataset": dataset,
        "split": split,
        "metrics": {k: v for k, v in metrics.items() if k != "examples"},
        "examples": metrics["examples"],
    }


def _condition_name(recipe: dict) -> str:
    data = recipe["data"]
    condition = data.get("condition", "clean")
    if recipe["task"] == "speech-enhancement":
        return f"{condition} speech"
    return f"{data.get('num_speakers', 2)}-speaker {condition} mixtures"


def main(argv: list[str] | None = None) -> int:
    from .speaker.evaluate_speaker import speaker_checkpoint_in

    if speaker_checkpoint_in(sys.argv[1:] if argv is None else argv):
        # speaker-embedding checkpoints have their own options (trials, --verification-corpus, calibration)
        from .speaker.evaluate_speaker import main as evaluate_speaker_main

        return evaluate_speaker_main(argv)
    parser = argparse.ArgumentParser(
        prog="zoo eval",
        description="Evaluate a checkpoint and write the results into its model card.",
        epilog="A speaker-embedding checkpoint takes other options (trials, --verification-corpus): zoo eval CHECKPOINT --help",
    )
    parser.add_argument("checkpoint", nargs="+", help="a checkpoint folder holding recipe.yaml, e.g. checkpoints/convtasnet-zoo-2mix-8k (several with --table)")
    parser.add_argument("--table", action="store_true", help="separation checkpoints only: evaluate every one on the 2-mix, 3-mix, noisy and reverberant test sets of unseen voices and write one comparison table into each card")
    parser.add_argument("--split", default="test", help="corpus split to evaluate on (default: test)")
    parser.add_argument("--num-examples", type=int, default=200, help="test mixtures per condition (default: 200); for an SI-SNR estimator, mixtures separated by each separator")
    parser.add_argument("--seed", type=int, default=1234, help="mixing seed of the test set (default: 1234)")
    parser.add_argument("--corpus", help="override the recipe's corpus (a folder or a Hub id)")
    parser.add_argument("--no-card", action="store_true", help="print the results without updating the model card")
    parser.add_argument("--max-examples", type=int, help="speech recognition: score a seeded random subset of this many utterances")
    parser.add_argument("--peer", choices=["pocketsphinx"], help="speech recognition: also transcribe the same audio with this peer")
    parser.add_argument("--num-beams", type=int, help="seq2seq speech recognition: beam width (1: greedy); default: the checkpoint's generation_config")
    parser.add_argument("--ctc-weight", type=float, help="seq2seq speech recognition: weight of the CTC prefix scores in joint decoding (0: attention only)")
    parser.add_argument("--lm-weight", type=float, help="seq2seq speech recognition: shallow-fusion weight of the checkpoint's character LM (0: none)")
    args = parser.parse_args(argv)
    missing = [c for c in args.checkpoint if not (Path(c) / "recipe.yaml").exists()]
    if missing:
        parser.error(f"{Path(missing[0]) / 'recipe.yaml'} not found: evaluate a checkpoint saved by `zoo train`, which stores its recipe")
    if args.table:
        from .hub import update_card_results

        results, table = evaluate_table(args.checkpoint, args.split, args.num_examples, args.seed)
        print(table)
        if not args.no_card:
            from . import cards

            for checkpoint, checkpoint_results in results.items():
                # the table's condition may be the one `zoo eval` measured on more mixtures (same dataset name):
                # its line keeps the larger measurement; the table itself shows the table's numbers
                held = {(r["dataset"], r["split"]): r.get("examples", 0) for r in cards.load_card_data(checkpoint)["results"]}
                kept = [r for r in checkpoint_results if held.get((r["dataset"], r["split"]), 0) <= r["examples"]]
                update_card_results(checkpoint, kept, table_markdown="### All zoo separators on every test condition\n\n" + table)
                print(f"results written into {Path(checkpoint) / 'README.md'}")
        return 0
    if len(args.checkpoint) > 1:
        parser.error("give one checkpoint, or several with --table")
    checkpoint = Path(args.checkpoint[0])
    recipe = yaml.safe_load((checkpoint / "recipe.yaml").read_text())
    if args.corpus and recipe["task"] != "text-generation":  # an LM's --corpus is the text to measure on
        recipe["data"]["corpus"] = args.corpus
    results = []
    if recipe["task"] == "automatic-speech-recognition":
        overrides = {"num_beams": args.num_beams, "ctc_weight": args.ctc_weight, "lm_weight": args.lm_weight}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        decoding = seq2seq_decoding(checkpoint, overrides)
        if overrides and decoding is None:
            parser.error(f"--num-beams / --ctc-weight / --lm-weight set the decoding of seq2seq recognizers; {checkpoint} is a CTC checkpoint")
        measured = evaluate_asr(
            str(checkpoint), recipe, args.split, max_examples=args.max_examples, seed=args.seed, peer=args.peer, generate_kwargs=overrides
        )
        table = None
        if args.peer:
            command = "zoo eval " + " ".join(sys.argv[1:] if argv is None else argv)
            table = "### Comparison on the same audio\n\n" + asr_comparison_table(
                measured,
                f"WER / CER (fractions) of this model (stock transformers pipeline, {_asr_decoding(checkpoint, overrides)}) and {args.peer} (its "
                f"default en-us model from the PyPI wheel) on the same {split_size(measured)} {args.split} utterances of "
                f"{recipe['data']['corpus']} (synthetic TTS speech); real-time factor on this machine. Measured by `{command}`.",
            )
            print(table)
        for name, metrics in measured[checkpoint.name].items():
            if decoding is not None:  # one result per decoding setup: greedy, joint and joint + LM sit side by side
                name = f"{name}; {describe_seq2seq_decoding(decoding)}"
            results.append(
                _result(recipe["task"], f"{recipe['data']['corpus']} ({name})", args.split, metrics)
            )
            print(json.dumps(results[-1]))
        if not args.no_card:
            from .hub import update_card_results, update_card_section

            if table is None:
                update_card_results(str(checkpoint), results)
            else:  # the peer's numbers into the card data, then this model's results and the table in one write
                record_peer_results(checkpoint, args.peer, measured[args.peer], args.split, command)
                update_card_section(checkpoint, "asr-peer", table, results)
            print(f"results written into {checkpoint / 'README.md'}")
        return 0
    if recipe["task"] == "text-generation":  # the character LM: bits per character on sentences it never saw
        metrics = evaluate_char_lm(str(checkpoint), recipe, args.split, corpus=args.corpus)
        corpus = metrics.pop("corpus")
        results.append(_result(recipe["task"], f"{corpus} transcripts (sentences left out of training)", args.split, metrics))
        print(json.dumps(results[-1]))
        if not args.no_card:
            from .hub import update_card_results

            update_card_results(str(checkpoint), results)
            print(f"results written into {checkpoint / 'README.md'}")
        return 0
    if recipe["task"] not in {"audio-source-separation", "speech-enhancement", "speech-quality-assessment"}:
        parser.error(f"zoo eval does not know task {recipe['task']!r} yet")
    if recipe["task"] == "speech-quality-assessment":
        data = recipe["data"]
        separators = ", ".join(Path(str(s["checkpoint"] if isinstance(s, dict) else s)).name for s in data["separators"])
        for name, metrics in evaluate_quality(str(checkpoint), recipe, args.split, args.num_examples, args.seed).items():
            results.append(
                _result(recipe["task"], f"{data['corpus']} ({data.get('num_speakers', 2)}-speaker {data.get('condition', 'clean')} mixtures, "
                    f"unseen voices, {name} of {separators})", args.split, metrics)
            )
            print(json.dumps(results[-1]))
    else:
        for unseen_only, name in ((False, "held-out speakers"), (True, "unseen voices")):
            by_voices: dict[str, list[float]] = {}
            by_speakers: dict[str, list[float]] = {}
            metrics = evaluate_separation(
                str(checkpoint), recipe, args.split, args.num_examples, unseen_only, args.seed, by_voices, by_speakers
            )
            results.append(
                _result(recipe["task"], f"{recipe['data']['corpus']} ({_condition_name(recipe)}, {name})", args.split, metrics)
            )
            print(json.dumps(results[-1]))
            if unseen_only and by_voices:
                print("  SI-SNRi (dB) by the voices mixed:")
                for voices, values in sorted(by_voices.items()):
                    print(f"    {voices:<32} {float(np.mean(values)):6.2f}  ({len(values)} mixtures)")
            if unseen_only and by_speakers:  # worst first: where a separator fails
                print("  SI-SNRi (dB) by speaker, worst first (a mixture counts for each of its speakers):")
                for speaker, values in sorted(by_speakers.items(), key=lambda item: float(np.mean(item[1]))):
                    print(f"    {speaker:<32} {float(np.mean(values)):6.2f}  in {len(values)} mixtures")
    if not args.no_card:
        from .hub import update_card_results

        update_card_results(str(checkpoint), results)
        print(f"results written into {checkpoint / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
