"""Score the `speaker-diarization` pipeline on a conversations corpus: DER overall and by number of speakers.

    python scripts/eval_diarization.py checkpoints/ecapa-tdnn-zoo-16k --conversations data/conversations
    python scripts/eval_diarization.py checkpoints/ecapa-tdnn-zoo-16k --conversations data/conversations \\
        --oracle-speakers --vad silero --limit 20 --out /tmp/diarization

The corpus is what `zoo data conversations` writes (rows with `audio` and reference `segments` =
[{speaker, start, end}] in seconds; `num_speakers` is derived from the segments when absent). Every recording is
scored over its whole length, so speech found in silence counts as false alarm. DER is pooled over files
(total error seconds / total reference speech seconds), with pyannote.metrics' collar convention
(`--collar 0.25` = +-0.125 s around each reference boundary) and overlapped speech scored unless
`--skip-overlap`.

Writes OUT/reference.rttm and OUT/hypothesis.rttm (file id = the row's `id`, else its index) and
OUT/results.json; prints a table. OUT defaults to runs/diarization/<checkpoint>-<corpus>.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from zoo.diarization.rttm import check_segments, diarization_error_rate, write_rttm

PARTS = ("missed_detection", "false_alarm", "confusion", "total")


def _rate(parts: dict) -> dict:
    """Pooled rates (fractions) from summed seconds."""
    total = parts["total"]
    error = parts["missed_detection"] + parts["false_alarm"] + parts["confusion"]
    return {
        "der": error / total if total > 0 else (0.0 if error == 0 else 1.0),
        "missed_detection_rate": parts["missed_detection"] / total if total > 0 else 0.0,
        "false_alarm_rate": parts["false_alarm"] / total if total > 0 else 0.0,
        "confusion_rate": parts["confusion"] / total if total > 0 else 0.0,
    }


def evaluate(
    diarize: Callable[..., list[dict]],
    rows: Iterable[dict],
    collar: float = 0.25,
    skip_overlap: bool = False,
    oracle_speakers: bool = False,
    rttm_dir: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """DER of `diarize` over conversation rows, pooled overall and per number of reference speakers.

    Args:
        diarize: `diarize(audio, **kwargs) -> [{speaker, start, end}]`, e.g. a speaker-diarization pipeline.
        rows: dicts with `audio` (anything the pipeline takes), `segments` (the reference), optionally `id`,
            `num_speakers` and `duration` (seconds; the scored region is `[0, duration]`, else the segments' extent).
        collar: pyannote collar in seconds (total width around each reference boundary).
        skip_overlap: do not score regions where reference speakers overlap.
        oracle_speakers: pass each row's reference number of speakers as `num_speakers=`.
        rttm_dir: write `reference.rttm` and `hypothesis.rttm` here.
        progress: show a progress bar.

    Returns:
        `{"overall": {...}, "by_num_speakers": {n: {...}}, "files": [...]}`; each summary has `der`, the three
        error rates, their seconds, `files`, and `speaker_count_accuracy` (share of files where the number of
        hypothesis speakers equals the reference's).
    """
    from tqdm.auto import tqdm

    rows = list(rows) if not hasattr(rows, "__len__") else rows
    files = []
    reference_rttm = hypothesis_rttm = None
    if rttm_dir is not None:
        Path(rttm_dir).mkdir(parents=True, exist_ok=True)
        reference_rttm = open(Path(rttm_dir) / "reference.rttm", "w", encoding="utf-8")
        hypothesis_rttm = open(Path(rttm_dir) / "hypothesis.rttm", "w", encoding="utf-8")
    try:
        for index, row in enumerate(tqdm(rows, desc="diarizing", unit="file", disable=not progress)):
            reference = check_segments(row["segments"], "reference")
            file_id = str(row.get("id") or f"file{index:05d}").replace(" ", "_")
            num_speakers = int(row.get("num_speakers") or len({s["speaker"] for s in reference}))
            hypothesis = check_segments(diarize(row["audio"], **({"num_speakers": num_speakers} if oracle_speakers else {})), "hypothesis")
            duration = row.get("duration")
            uem = (0.0, float(duration)) if duration else None
            parts = diarization_error_rate(reference, hypothesis, collar=collar, skip_overlap=skip_overlap, uem=uem, detailed=True)
            files.append({
                "id": file_id, "num_speakers": num_speakers, "hypothesis_speakers": len({s["speaker"] for s in hypothesis}),
                **{k: parts[k] for k in ("der", *PARTS)},
            })
            if reference_rttm is not None:
                write_rttm(reference, file_id, reference_rttm)
                write_rttm(hypothesis, file_id, hypothesis_rttm)
    finally:
        for handle in (reference_rttm, hypothesis_rttm):
            if handle is not None:
                handle.close()
    return {"overall": summarize(files), "by_num_speakers": {n: summarize([f for f in files if f["num_speakers"] == n])
                                                             for n in sorted({f["num_speakers"] for f in files})}, "files": files}


def summarize(files: list[dict]) -> dict:
    """Pooled DER and its parts over per-file results (seconds are summed, then divided).

    >>> summarize([{"missed_detection": 1.0, "false_alarm": 0.0, "confusion": 1.0, "total": 10.0, "num_speakers": 2,
    ...             "hypothesis_speakers": 2}, {"missed_detection": 0.0, "false_alarm": 2.0, "confusion": 0.0, "total": 10.0,
    ...             "num_speakers": 3, "hypothesis_speakers": 2}])["der"]
    0.2
    """
    seconds = {part: float(sum(f[part] for f in files)) for part in PARTS}
    correct = sum(f["hypothesis_speakers"] == f["num_speakers"] for f in files)
    return {**_rate(seconds), **seconds, "files": len(files), "speaker_count_accuracy": correct / len(files) if files else 0.0}


def format_table(results: dict) -> str:
    """A markdown table: one row per number of speakers and one overall, DER and its parts in percent."""
    lines = [
        "| speakers | files | DER % | missed % | false alarm % | confusion % | speaker count correct % |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [(str(n), summary) for n, summary in results["by_num_speakers"].items()] + [("all", results["overall"])]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['files']} | {100 * s['der']:.1f} | {100 * s['missed_detection_rate']:.1f} | "
            f"{100 * s['false_alarm_rate']:.1f} | {100 * s['confusion_rate']:.1f} | {100 * s['speaker_count_accuracy']:.0f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="speaker-embedding checkpoint folder or Hub id")
    parser.add_argument("--conversations", required=True, help="folder written by `zoo data conversations` (or any load_corpus source)")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N conversations")
    parser.add_argument("--out", default=None, help="folder for the RTTMs and results.json (default runs/diarization/<checkpoint>-<corpus>)")
    parser.add_argument("--collar", type=float, default=0.25, help="pyannote collar, seconds (total width; default 0.25)")
    parser.add_argument("--skip-overlap", action="store_true", help="do not score overlapped reference speech")
    parser.add_argument("--oracle-speakers", action="store_true", help="give the pipeline the reference number of speakers")
    parser.add_argument("--min-speakers", type=int, default=None)
    parser.add_argument("--max-speakers", type=int, default=None)
    parser.add_argument("--vad", default="energy", choices=["energy", "silero", "none"])
    parser.add_argument("--clustering", default="spectral", choices=["agglomerative", "spectral"])
    parser.add_argument("--threshold", type=float, default=None, help="clustering threshold (default: the model's config.threshold, else 0.5)")
    parser.add_argument("--no-overlap", action="store_true", help="one speaker per frame")
    parser.add_argument("--overlap-threshold", type=float, default=None)
    parser.add_argument("--window", type=float, default=1.5, help="embedding window, seconds")
    parser.add_argument("--hop", type=float, default=0.75, help="embedding hop, seconds")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda:0 (default: cpu)")
    parser.add_argument("--write-card", action="store_true", help="write the DER table and the command into the checkpoint's model card")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from transformers import pipeline

    import zoo  # noqa: F401  (registers the pipelines)
    from zoo.data.hub import load_corpus

    rows = load_corpus(args.conversations, split=args.split)
    if "segments" not in rows.column_names:
        raise SystemExit(f"{args.conversations!r} split {args.split!r} has no 'segments' column; build it with `zoo data conversations`")
    if args.limit is not None:
        rows = rows.select(range(min(args.limit, len(rows))))
    diarizer = pipeline("speaker-diarization", model=args.checkpoint, device=args.device, batch_size=args.batch_size)
    options = dict(
        vad=args.vad, clustering=args.clustering, threshold=args.threshold, overlap=not args.no_overlap,
        overlap_threshold=args.overlap_threshold, window_seconds=args.window, hop_seconds=args.hop,
        min_speakers=args.min_speakers, max_speakers=args.max_speakers,
    )
    options = {k: v for k, v in options.items() if v is not None}

    def diarize(audio, **kwargs):
        return diarizer(audio, **options, **kwargs)

    out = Path(args.out or f"runs/diarization/{Path(args.checkpoint.rstrip('/')).name}-{Path(args.conversations.rstrip('/')).name}")
    results = evaluate(diarize, rows, collar=args.collar, skip_overlap=args.skip_overlap, oracle_speakers=args.oracle_speakers, rttm_dir=out)
    settings = {k: v for k, v in vars(args).items()}
    (out / "results.json").write_text(json.dumps({"settings": settings, **results}, indent=2, default=str))
    print(f"{args.checkpoint} on {args.conversations} [{args.split}], {len(rows)} conversations, collar {args.collar} s"
          f"{', overlap not scored' if args.skip_overlap else ''}{', oracle speaker count' if args.oracle_speakers else ''}")
    print(format_table(results))
    print(f"RTTMs and results.json in {out}")
    if args.write_card:
        from zoo.hub import update_card_section

        command = "python scripts/eval_diarization.py " + " ".join(argv if argv is not None else sys.argv[1:])
        markdown = (
            f"### Speaker diarization\n\n`pipeline(\"speaker-diarization\")` with this model on {len(rows)} synthetic conversations "
            f"of {args.conversations} [{args.split}] (2 to 4 TTS speakers never seen in training, turns, pauses, overlaps), "
            f"collar {args.collar} s (pyannote.metrics, total width), clustering {args.clustering}, speaker count "
            f"{'given' if args.oracle_speakers else 'estimated'}:\n\n{format_table(results)}\n\nMeasured by `{command}`."
        )
        result = {
            "task": "speaker-diarization", "dataset": f"{args.conversations} ({args.split} conversations)", "split": args.split,
            "metrics": {"der": round(100 * results["overall"]["der"], 2)},
        }
        update_card_section(args.checkpoint, "diarization", markdown, results=[result])
        print(f"DER written into {Path(args.checkpoint) / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
