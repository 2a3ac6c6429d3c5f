"""`zoo bench asr`: speed of our speech recognizer, greedy and with its n-gram LM, against pocketsphinx on the same audio.

    zoo bench asr checkpoints/ctc-conformer-zoo-16k --lm-ckpt checkpoints/ctc-conformer-zoo-16k-lm --seconds 60

Every system runs in this process on the same utterances: ours through transformers' stock
`pipeline("automatic-speech-recognition")` (greedy CTC from the plain checkpoint, CTC beam search from the `zoo lm
attach` folder), pocketsphinx with the default US English model its wheel ships. Each utterance goes through every
system in turn, the order alternating, after one warm-up call each, so that a busy machine slows all alike. The
report gives the wall and CPU time of each, the real-time factor (time / audio seconds), the WER when the audio comes
from a corpus, the ratios ours / pocketsphinx and, each system in a fresh process, the rise of peak memory (VmHWM)
from loading it and decoding the audio. Timings are a report, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RATE = 16000
GREEDY, LM, PEER = "ours, greedy CTC", "ours, n-gram LM beam search", "pocketsphinx"
GREEDY_RTF_TARGET = 0.05


# 1. the audio


def corpus_audio(corpus: str, split: str, seconds: float, seed: int = 0) -> tuple[list[np.ndarray], list[str], str]:
    """`(waves, references, description)`: seeded random utterances of a corpus split until `seconds` of audio."""
    from ..data.hub import load_corpus
    from .processing_asr import normalize_text

    rows = load_corpus(corpus, split=split, sampling_rate=RATE).shuffle(seed=seed)
    waves, texts, total = [], [], 0.0
    for row in rows:
        wave = np.asarray(row["audio"]["array"], dtype=np.float32)
        waves.append(wave)
        texts.append(normalize_text(row["text"]) if "text" in row else "")
        total += len(wave) / RATE
        if total >= seconds:
            break
    return waves, texts, f"{corpus} ({split})"


def file_audio(paths: list[str]) -> tuple[list[np.ndarray], list[str], str]:
    """`(waves, references, description)` of audio files (mono, resampled to 16 kHz); no references."""
    from ..audio import load_audio

    waves = [np.asarray(load_audio(path, RATE), dtype=np.float32).reshape(-1) for path in paths]
    return waves, [], f"{len(paths)} file(s)"


# 2. the systems


def load_systems(checkpoint: str, lm_checkpoint: str | None, peer: bool = True, beam_width: int | None = None) -> dict:
    """`{name: transcribe(wave) -> text}` for our greedy pipeline, our LM pipeline (when given) and pocketsphinx."""
    from transformers import pipeline

    systems = {}
    greedy = pipeline("automatic-speech-recognition", model=checkpoint, device="cpu")
    if greedy.type != "ctc":
        raise ValueError(f"{checkpoint} decodes as {greedy.type!r}, not greedy CTC; pass the checkpoint without an LM and the LM one as --lm-ckpt")
    systems[GREEDY] = lambda wave: greedy({"raw": wave, "sampling_rate": RATE})["text"]
    if lm_checkpoint:
        beam = pipeline("automatic-speech-recognition", model=lm_checkpoint, device="cpu")
        if beam.type != "ctc_with_lm":
            raise ValueError(
                f"{lm_checkpoint} decodes as {beam.type!r}, not with an LM; write it with `zoo lm attach` and install kenlm "
                "and pyctcdecode"
            )
        kwargs = {"decoder_kwargs": {"beam_width": beam_width}} if beam_width else {}
        systems[LM] = lambda wave: beam({"raw": wave, "sampling_rate": RATE}, **kwargs)["text"]
    if peer:
        from pocketsphinx import Decoder

        from ..evaluate import pocketsphinx_transcribe

        decoder = Decoder(samprate=RATE)
        systems[PEER] = lambda wave: pocketsphinx_transcribe(wave, RATE, decoder)
    return systems


def time_systems(systems: dict, waves: list[np.ndarray]) -> dict:
    """`{name: {"seconds", "cpu_seconds", "texts"}}`: every utterance through every system, order alternating."""
    for transcribe in systems.values():
        transcribe(waves[0])  # warm-up: lazy initialisations are not decoding time
    results = {name: {"seconds": 0.0, "cpu_seconds": 0.0, "texts": []} for name in systems}
    for index, wave in enumerate(waves):
        order = list(systems) if index % 2 == 0 else list(reversed(systems))
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            text = systems[name](wave)
            results[name]["seconds"] += time.perf_counter() - start
            results[name]["cpu_seconds"] += time.process_time() - start_cpu
            results[name]["texts"].append(text)
    return results


# 3. peak memory, one fresh process per system


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _memory_worker(argv: list[str]) -> int:
    """Load one system and decode the audio of an .npz; print the rise of peak RSS over RSS before loading it."""
    parser = argparse.ArgumentParser(prog="bench_asr _memory")
    parser.add_argument("system", choices=[GREEDY, LM, PEER])
    parser.add_argument("--checkpoint")
    parser.add_argument("--lm-ckpt")
    parser.add_argument("--audio", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam-width", type=int, default=None)
    args = parser.parse_args(argv)
    waves = list(np.load(args.audio).values())
    if args.system == PEER:
        import pocketsphinx  # noqa: F401  (the library's import is not the system's memory)
    else:
        import torch
        import transformers  # noqa: F401

        torch.set_num_threads(args.threads)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    systems = load_systems(args.checkpoint, args.lm_ckpt if args.system == LM else None, peer=args.system == PEER,
                           beam_width=args.beam_width)
    for wave in waves:
        systems[args.system](wave)
    print("RESULT " + json.dumps({"peak_increase_mb": (_status_kb("VmHWM") - before) / 1024}))
    return 0


def peak_memory(system: str, checkpoint: str, lm_checkpoint: str | None, audio_npz: str, threads: int, beam_width) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "zoo.asr.bench_asr", "_memory", system, "--checkpoint", checkpoint, "--audio", audio_npz,
               "--threads", str(threads)]
    command += (["--lm-ckpt", lm_checkpoint] if lm_checkpoint else []) + (["--beam-width", str(beam_width)] if beam_width else [])
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"zoo bench asr: the memory worker for {system} failed:\n{result.stdout[-3000:]}{result.stderr[-5000:]}")
    return json.loads(lines[-1][len("RESULT ") :])["peak_increase_mb"]


# 4. the report


def report(results: dict, audio: dict, args) -> tuple[dict, str]:
    """The JSON-able summary and the printed table."""
    from ..metrics import wer
    from .processing_asr import normalize_text

    seconds = audio["seconds"]
    summary = {"audio": audio, "threads": args.threads, "systems": {}, "ratios": {}, "targets": {}}
    for name, r in results.items():
        entry = {"seconds": round(r["seconds"], 4), "rtf": round(r["seconds"] / seconds, 4), "cpu_seconds": round(r["cpu_seconds"], 4),
                 "peak_memory_mb": r.get("peak_memory_mb")}
        if audio["references"]:
            entry["wer"] = round(wer(audio["references"], [normalize_text(t) for t in r["texts"]]), 4)
        summary["systems"][name] = entry
    systems = summary["systems"]
    if PEER in systems:
        for name in (GREEDY, LM):
            if name in systems:
                summary["ratios"][f"{name} / {PEER}"] = {
                    "time": round(systems[name]["seconds"] / systems[PEER]["seconds"], 3),
                    "cpu_time": round(systems[name]["cpu_seconds"] / max(systems[PEER]["cpu_seconds"], 1e-9), 3),
                    **({"peak_memory": round(systems[name]["peak_memory_mb"] / systems[PEER]["peak_memory_mb"], 3)}
                       if systems[name]["peak_memory_mb"] and systems[PEER]["peak_memory_mb"] else {}),
                }
    summary["targets"]["greedy rtf <= 0.05"] = systems[GREEDY]["rtf"] <= GREEDY_RTF_TARGET
    if LM in systems and PEER in systems:
        summary["targets"]["LM beam search faster than pocketsphinx"] = systems[LM]["seconds"] < systems[PEER]["seconds"]

    import torch

    rows = [
        "zoo bench asr",
        f"  audio: {audio['utterances']} utterances, {seconds:.1f} s of {audio['source']} at {RATE} Hz; CPU, torch "
        f"{torch.__version__}, {args.threads} threads; ours through the stock transformers ASR pipeline "
        f"({args.checkpoint}{', ' + args.lm_ckpt if args.lm_ckpt else ''}"
        f"{f', beam width {args.beam_width}' if args.beam_width else ', the pipeline default beam'}), pocketsphinx with its "
        "default en-us model",
        "  time: every utterance through every system in turn, order alternating, after one warm-up call each; "
        "peak memory: rise of peak RSS over RSS before loading, fresh process per system",
        "",
        f"  {'system':<38}{'time (s)':>10}{'RTF':>9}{'CPU (s)':>10}{'WER':>8}{'peak mem (MB)':>15}",
    ]
    for name, s in systems.items():
        memory = f"{s['peak_memory_mb']:.0f}" if s["peak_memory_mb"] is not None else "–"
        error = f"{s['wer']:.3f}" if "wer" in s else "–"
        rows.append(f"  {name:<38}{s['seconds']:>10.2f}{s['rtf']:>9.4f}{s['cpu_seconds']:>10.2f}{error:>8}{memory:>15}")
    for name, ratio in summary["ratios"].items():
        memory = f"{ratio['peak_memory']:.2f}" if "peak_memory" in ratio else "–"
        rows.append(f"  {name.replace('ours, ', ''):<38}{ratio['time']:>10.2f}{'':>9}{ratio['cpu_time']:>10.2f}{'':>8}{memory:>15}")
    rows.append("  targets: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in summary["targets"].items()))
    return summary, "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_memory":
        return _memory_worker(argv[1:])
    parser = argparse.ArgumentParser(
        prog="zoo bench asr",
        description=(
            "Our speech recognizer through the stock transformers pipeline, greedy CTC and (--lm-ckpt) CTC beam search "
            "with the n-gram LM, against pocketsphinx (its default en-us model) on the same audio, on CPU. Prints each "
            "one's time, real-time factor, CPU time, WER and peak memory, and the ratios ours / pocketsphinx."
        ),
    )
    parser.add_argument("checkpoint", help="a CTC checkpoint without LM (greedy), e.g. checkpoints/ctc-conformer-zoo-16k")
    parser.add_argument("--lm-ckpt", default=None, help="the same model with its LM (`zoo lm attach`), e.g. checkpoints/ctc-conformer-zoo-16k-lm")
    parser.add_argument("--corpus", default=None, help="speech corpus to take utterances from (default: the checkpoint recipe's)")
    parser.add_argument("--split", default="test", help="corpus split (default: test)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of audio, whole utterances (default 60)")
    parser.add_argument("--audio", nargs="+", default=None, help="audio files instead of a corpus (no WER then)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--beam-width", type=int, default=None, help="LM beam width (default: the stock pipeline's, 100)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs (a fresh process per system)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.threads < 1:
        parser.error(f"--seconds {args.seconds:g} and --threads {args.threads} must be positive")
    for name, folder in (("checkpoint", args.checkpoint), ("--lm-ckpt", args.lm_ckpt)):
        if folder is not None and not (Path(folder) / "config.json").is_file():
            parser.error(f"{name} {folder} has no config.json; pass a checkpoint folder")

    import torch

    torch.set_num_threads(args.threads)
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    if args.audio:
        waves, references, source = file_audio(args.audio)
    else:
        corpus = args.corpus
        if corpus is None:
            import yaml

            recipe = Path(args.checkpoint) / "recipe.yaml"
            if not recipe.is_file():
                parser.error(f"{args.checkpoint} has no recipe.yaml to take the corpus from; pass --corpus or --audio")
            corpus = yaml.safe_load(recipe.read_text())["data"]["corpus"]
        waves, references, source = corpus_audio(corpus, args.split, args.seconds)
    audio = {"source": source, "utterances": len(waves), "seconds": round(sum(len(w) for w in waves) / RATE, 3), "references": references}
    say(f"zoo bench asr: {audio['utterances']} utterances, {audio['seconds']:.1f} s; loading the systems ...")
    systems = load_systems(args.checkpoint, args.lm_ckpt, beam_width=args.beam_width)
    say(f"zoo bench asr: timing {', '.join(systems)} ...")
    results = time_systems(systems, waves)
    if not args.no_memory:
        with tempfile.TemporaryDirectory() as tmp:
            npz = os.path.join(tmp, "audio.npz")
            np.savez(npz, *waves)
            for name in results:
                say(f"zoo bench asr: peak memory of {name} ...")
                results[name]["peak_memory_mb"] = peak_memory(name, args.checkpoint, args.lm_ckpt, npz, args.threads, args.beam_width)
    summary, table = report(results, audio, args)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"  written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
