"""One comparison table of the zoo's speech recognizers, like the seed paper's LibriSpeech table, from measured results.

Every number comes from a checkpoint's own card data (`card_data.json`), written there by `zoo eval` (each card holds
the command), so nothing is re-measured or typed in: run `zoo eval` on each checkpoint first, with the same
`--max-examples` and seed, so every row scores the same utterances. A peer measured on the same audio by
`zoo eval ... --peer pocketsphinx` (kept in that card's `peer_results`) gets a row too.

    python scripts/asr_table.py checkpoints/ctc-conformer-zoo-16k checkpoints/ctc-conformer-zoo-16k-lm \
        checkpoints/las-zoo-16k checkpoints/transformer-asr-joint-zoo-16k checkpoints/transformer-asr-joint-lm-zoo-16k \
        --write-cards

prints the table and, with `--write-cards`, puts it into each card's "asr-models" section.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from zoo.cards import load_card_data

SECTION = "asr-models"
ALL, UNSEEN = "test speakers, all", "unseen voices"
# "data/speech-200 (unseen voices; beam 4, CTC weight 0.3, no LM)" -> group "unseen voices", decoding "beam 4, ..."
DATASET = re.compile(r"^(?P<corpus>.+?) \((?P<group>[^;()]+)(?:; (?P<decoding>[^()]+))?\)$")
KINDS = {
    "ctc_conformer": "CTC (Conformer encoder)",
    "las": "attention: LAS (Conformer encoder, LSTM speller, location-aware attention)",
    "transformer_asr": "Transformer (Conformer encoder, Transformer decoder)",
}


def _kind(folder: Path, card: dict) -> str:
    config = json.loads((folder / "config.json").read_text())
    kind = KINDS.get(card["model_type"], card["model_type"])
    if config.get("ctc_weight"):
        kind += f", joint CTC/attention training (CTC weight {config['ctc_weight']})"
    return kind


def _ctc_decoding(folder: Path) -> str:
    return "CTC beam search + word n-gram LM (pyctcdecode)" if (folder / "language_model").is_dir() else "greedy CTC"


def _cell(metrics: dict | None) -> str:
    return f"{metrics['wer']:.3f} / {metrics['cer']:.3f}" if metrics else "–"


def collect(checkpoints: list[str], split: str = "test") -> tuple[list[dict], list[dict], str]:
    """`(rows, peers, corpus)`: a row per (checkpoint, decoding) with its all-speakers and unseen-voice results."""
    rows, peers, corpora, seen = [], {}, Counter(), set()
    for checkpoint in checkpoints:
        folder = Path(checkpoint)
        card = load_card_data(folder)
        by_decoding: dict[str, dict] = {}
        for result in card["results"]:
            match = DATASET.match(result["dataset"])
            if result.get("split") != split or not match or match["group"] not in (f"{split} speakers, all", UNSEEN):
                continue
            corpora[match["corpus"]] += 1
            decoding = match["decoding"] or _ctc_decoding(folder)
            group = ALL if match["group"] != UNSEEN else UNSEEN
            by_decoding.setdefault(decoding, {})[group] = {**result["metrics"], "examples": result.get("examples")}
        if not by_decoding:
            raise ValueError(f"{folder} has no measured {split} results; run `zoo eval {folder} --max-examples 300` first")
        for decoding, groups in by_decoding.items():
            key = (decoding, json.dumps(groups, sort_keys=True))
            if key in seen:  # a folder derived from another (an LM attached) carries its base's results too
                continue
            seen.add(key)
            rows.append({"model": folder.name, "kind": _kind(folder, card), "parameters": card["num_parameters"],
                         "decoding": decoding, **groups})
        for peer, measured in (card.get("peer_results") or {}).items():
            if measured.get("split") == split:
                results = measured["results"]
                peers.setdefault(peer, {"model": peer, "kind": "peer", "parameters": None, "decoding": "its default",
                                        ALL: results.get(f"{split} speakers, all"), UNSEEN: results.get(UNSEEN)})
    return rows, list(peers.values()), corpora.most_common(1)[0][0]


def render(rows: list[dict], peers: list[dict], corpus: str, command: str) -> str:
    sizes = Counter(row[ALL]["examples"] for row in rows + peers if row.get(ALL))
    size, _ = sizes.most_common(1)[0]
    kept = [row for row in rows + peers if row.get(ALL) and row[ALL]["examples"] == size]
    left_out = [row["model"] for row in rows + peers if row not in kept]
    lines = [
        f"WER / CER (fractions) on the same {size} test utterances of {corpus} (speakers never heard in training; "
        f"unseen voices: espeak-ng en-029 and flite rms, TTS voices never used in training), each through the stock "
        f"`pipeline(\"automatic-speech-recognition\")` with the decoding named; real-time factor on the machine that "
        f"measured it (2 CPU cores). Each number was measured by `zoo eval` (the command is in that model's card); "
        f"collected by `{command}`.",
        "",
        "| Model | Kind | Parameters | Decoding | WER / CER, all test speakers | WER / CER, unseen voices | Real-time factor |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in kept:
        parameters = f"{row['parameters'] / 1e6:.2f} M" if row["parameters"] else "–"
        rtf = row[ALL].get("rtf")
        lines.append(f"| {row['model']} | {row['kind']} | {parameters} | {row['decoding']} | {_cell(row.get(ALL))} | "
                     f"{_cell(row.get(UNSEEN))} | {f'{rtf:.4f}' if rtf is not None else '–'} |")
    if left_out:
        lines += ["", f"Left out (measured on another number of utterances): {', '.join(left_out)}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="speech recognition checkpoint folders, each evaluated by `zoo eval`")
    parser.add_argument("--split", default="test", help="the evaluated split (default: test)")
    parser.add_argument("--write-cards", action="store_true", help=f"put the table into each card's '{SECTION}' section")
    args = parser.parse_args(argv)
    command = "python scripts/asr_table.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows, peers, corpus = collect(args.checkpoints, args.split)
    table = "### Speech recognizers compared\n\n" + render(rows, peers, corpus, command)
    print(table)
    if args.write_cards:
        from zoo.hub import update_card_section

        for checkpoint in args.checkpoints:
            update_card_section(checkpoint, SECTION, table)
            print(f"table written into {Path(checkpoint) / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
