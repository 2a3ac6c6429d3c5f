"""`zoo lm`: build a word n-gram LM from the training text and attach it to a CTC checkpoint for beam search.

    zoo lm ngram --corpus data/speech-asr --sentences --exclude data/speech-200 --order 3 --output lm/zoo-3gram.arpa
    zoo lm attach checkpoints/ctc-conformer-zoo-16k --arpa lm/zoo-3gram.arpa --tune --output checkpoints/ctc-conformer-zoo-16k-lm

`ngram` gathers the training text (the transcripts of `--corpus`' train split, and with `--sentences` the harvested
sentence pool of `zoo.data.text`), always leaves out every sentence of the `--exclude` corpus' evaluation splits
(validation and test), so that the sentences a model is scored on are unseen by its LM, estimates an interpolated
modified Kneser-Ney model (`zoo.asr.ngram`), writes the ARPA file and, next to it, `<name>.json` with its counts, its
text and its perplexity on the validation sentences.

`attach` writes a new checkpoint folder: the CTC checkpoint's files, pyctcdecode's `alphabet.json` (the tokenizer's
labels in id order: "" for the blank `<pad>`, " " for the word delimiter `|`, "⁇" for `<unk>`) and `language_model/`
(the ARPA, its unigrams, alpha and beta), and `"processor_class": "AsrProcessorWithLM"`. transformers' stock
`pipeline("automatic-speech-recognition", model=folder)` then decodes with the LM (`pipe.type == "ctc_with_lm"`), and
`AutoProcessor.from_pretrained(folder)` gives a `Wav2Vec2ProcessorWithLM`. `--tune` picks alpha (LM weight) and beta
(word insertion bonus) on the validation split: the model's log-probabilities are computed once, then decoded at
every grid point.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from .ngram import BOS, EOS, UNK, build_ngram_lm
from .processing_asr import normalize_text

DEFAULT_KINDS = ("fortune", "quotation", "example")  # the kinds `zoo data speech` reads; glosses are definitions
EVAL_SPLITS = ("validation", "test")
PROCESSOR_CLASS = "AsrProcessorWithLM"
PROCESSOR_FILE = Path(__file__).with_name("processing_asr_with_lm.py")
# pyctcdecode's decode_beams defaults, which the stock pipeline uses unless called with decoder_kwargs=
PIPELINE_BEAM_WIDTH = 100
DEFAULT_ALPHAS = (0.3, 0.5, 0.7, 1.0, 1.5)
DEFAULT_BETAS = (0.0, 0.5, 1.0, 2.0)


# ---------------------------------------------------------------------------------------------------------------
# 1. the training text


def _corpus_texts(name: str, splits: tuple[str, ...]) -> list[str]:
    """The `text` column of some splits of a corpus folder or Hub dataset (no audio is decoded)."""
    from ..data.hub import load_corpus

    texts = []
    for split in splits:
        rows = load_corpus(name, split=split)
        if "text" not in rows.column_names:
            raise ValueError(f"{name} ({split}) has no 'text' column (it has {rows.column_names}); pass a speech corpus")
        texts += list(rows["text"])
    return texts


def training_text(
    corpora: list[str] = (), corpus_split: str = "train", sentences: bool = False, kinds=DEFAULT_KINDS,
    exclude: list[str] = (), exclude_splits=EVAL_SPLITS,
) -> tuple[list[str], dict]:
    """The LM's training sentences, normalised and distinct, none of them in the `exclude` corpora's `exclude_splits`.

    Args:
        corpora: speech corpora (folders or Hub ids) whose `corpus_split` transcripts are training text.
        corpus_split: which split of `corpora` to read (default "train").
        sentences: add the harvested sentence pool (`zoo.data.text.harvest_sentences`) of the given `kinds`.
        kinds: sentence kinds of the pool: fortune, quotation, example (the kinds the speech corpora read), gloss.
        exclude: evaluation corpora: every sentence of their `exclude_splits` is left out.
        exclude_splits: default validation and test.

    Returns:
        `(sentences, stats)`: the text, and how many sentences each source gave and how many were left out.
    """
    excluded = {normalize_text(t) for name in exclude for t in _corpus_texts(name, tuple(exclude_splits))}
    excluded.discard("")
    sources = [(f"{name} ({corpus_split})", _corpus_texts(name, (corpus_split,))) for name in corpora]
    if sentences:
        from ..data.text import harvest_sentences

        pool = [row["text"] for row in harvest_sentences() if row["kind"] in set(kinds)]
        sources.append((f"harvested sentences ({', '.join(kinds)})", pool))
    if not sources:
        raise ValueError("no training text: pass --corpus FOLDER and/or --sentences")
    kept, seen, stats = [], set(), {"sources": {}, "left_out_as_evaluation_text": 0, "duplicates": 0}
    for name, texts in sources:
        count = 0
        for text in texts:
            text = normalize_text(text)
            if not text:
                continue
            if text in excluded:
                stats["left_out_as_evaluation_text"] += 1
            elif text in seen:
                stats["duplicates"] += 1
            else:
                seen.add(text)
                kept.append(text)
                count += 1
        stats["sources"][name] = count
    stats["sentences"] = len(kept)
    stats["words"] = sum(len(t.split()) for t in kept)
    stats["excluded_corpora"] = {name: list(exclude_splits) for name in exclude}
    return kept, stats


def perplexity(lm, sentences: list[str]) -> dict:
    """Perplexity of an `NgramLM` on sentences, </s> counted as a word and unknown words scored as <unk> (as kenlm's
    `perplexity` does), and the out-of-vocabulary rate of their words."""
    total, tokens, oov = 0.0, 0, 0
    known = {w for (w,) in lm.probs[0]}
    for sentence in sentences:
        words = normalize_text(sentence).split()
        total += lm.sentence_log10_prob(" ".join(words))
        tokens += len(words) + 1
        oov += sum(w not in known for w in words)
    words = tokens - len(sentences)
    return {"perplexity": round(10 ** (-total / max(tokens, 1)), 2), "oov_rate": round(oov / max(words, 1), 4),
            "sentences": len(sentences), "words": words}


# ---------------------------------------------------------------------------------------------------------------
# 2. the decoder and the checkpoint folder


def ctc_labels(tokenizer) -> list[str]:
    """pyctcdecode's alphabet of a CTC tokenizer: its tokens in id order, "" for the blank (the pad token), " " for the
    word delimiter and "⁇" (pyctcdecode's unknown) for the unknown token.

    >>> from zoo.asr.processing_asr import build_char_tokenizer
    >>> ctc_labels(build_char_tokenizer())[:6]
    ['', '⁇', ' ', "'", 'a', 'b']
    """
    from pyctcdecode.alphabet import UNK_TOKEN

    special = {tokenizer.pad_token: "", tokenizer.word_delimiter_token: " ", tokenizer.unk_token: UNK_TOKEN}
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    labels = [special.get(token, token) for token in tokens]
    if len(set(labels)) != len(labels):
        raise ValueError(f"the tokenizer's labels collide once mapped for pyctcdecode: {labels}")
    return labels


def arpa_words(path: str | Path) -> list[str]:
    """The words of an ARPA file's unigram section, without <s>, </s> and <unk>: the words beam search completes."""
    words, inside = [], False
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif inside and line.startswith("\\"):
                break
            elif inside and line:
                word = line.split("\t")[1]
                if word not in (BOS, EOS, UNK):
                    words.append(word)
    if not words:
        raise ValueError(f"{path} has no unigrams; is it an ARPA file? build one with `zoo lm ngram`")
    return words


def arpa_counts(path: str | Path) -> list[int]:
    """The n-gram counts of an ARPA file's header, unigrams first (its order is their number)."""
    counts = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line.startswith("ngram "):
                counts.append(int(line.split("=")[1]))
            elif line.startswith("\\1-grams:"):
                break
    return counts


def build_decoder(tokenizer, arpa: str | Path, alpha: float = 0.5, beta: float = 1.0):
    """A pyctcdecode `BeamSearchDecoderCTC` over the tokenizer's labels with the ARPA model (kenlm) as its LM.

    Args:
        tokenizer: the checkpoint's CTC tokenizer.
        arpa: an ARPA file (`.arpa`), e.g. from `zoo lm ngram`.
        alpha: LM weight in the beam score (log-prob scale).
        beta: bonus per word, against the LM's bias for short outputs.
    """
    from pyctcdecode import build_ctcdecoder

    arpa = Path(arpa)
    if arpa.suffix not in {".arpa", ".bin", ".binary"} or not arpa.is_file():
        raise FileNotFoundError(f"{arpa} is not an ARPA (.arpa) or kenlm binary (.bin) file; build one with `zoo lm ngram`")
    unigrams = arpa_words(arpa) if arpa.suffix == ".arpa" else None
    return build_ctcdecoder(ctc_labels(tokenizer), str(arpa), unigrams=unigrams, alpha=float(alpha), beta=float(beta))


def is_lm_checkpoint(folder: str | Path) -> bool:
    """Whether a checkpoint folder names an LM-backed processor (the stock ASR pipeline then beam-searches with it)."""
    path = Path(folder) / "preprocessor_config.json"
    return path.is_file() and str(json.loads(path.read_text()).get("processor_class", "")).endswith("WithLM")


def _set_processor_class(folder: Path) -> None:
    """Name the LM processor in both configs and map `AutoProcessor` to the folder's copy of its source."""
    for name in ("preprocessor_config.json", "tokenizer_config.json"):
        path = folder / name
        config = json.loads(path.read_text())
        config["processor_class"] = PROCESSOR_CLASS
        if name == "preprocessor_config.json":
            config["auto_map"] = {**config.get("auto_map", {}), "AutoProcessor": f"{PROCESSOR_FILE.stem}.{PROCESSOR_CLASS}"}
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    shutil.copy2(PROCESSOR_FILE, folder / PROCESSOR_FILE.name)


def attach_lm(
    checkpoint: str | Path, arpa: str | Path, output: str | Path, *, alpha: float = 0.5, beta: float = 1.0,
    beam_width: int = PIPELINE_BEAM_WIDTH, overwrite: bool = False, tuning: dict | None = None, command: str | None = None,
) -> Path:
    """Write `output`: the CTC `checkpoint` plus the ARPA LM as a pyctcdecode decoder, loaded by the stock pipeline.

    Args:
        checkpoint: a CTC checkpoint folder (config, weights, feature extractor, `Wav2Vec2CTCTokenizer`).
        arpa: the LM (`zoo lm ngram`'s output; its `.json` sidecar, when present, goes into the card).
        output: the new folder; refused when it exists unless `overwrite`.
        alpha, beta: LM weight and word bonus stored in `language_model/attrs.json`.
        beam_width: the beam width alpha and beta were tuned at, named in the card (the stock pipeline decodes at 100
            unless a call passes `decoder_kwargs={"beam_width": N}`).
        overwrite: replace an existing `output`.
        tuning: `tune()`'s result, recorded in the card.
        command: the command line, recorded in the card.

    Returns:
        The output folder.
    """
    from transformers import AutoConfig, AutoTokenizer

    checkpoint, arpa, output = Path(checkpoint), Path(arpa), Path(output)
    if not (checkpoint / "config.json").is_file() or not (checkpoint / "tokenizer_config.json").is_file():
        raise FileNotFoundError(f"{checkpoint} is not a CTC checkpoint folder (config.json and tokenizer_config.json); pass one saved by `zoo train`")
    if output.resolve() == checkpoint.resolve():
        raise ValueError(f"--output {output} is the checkpoint itself; write the LM checkpoint into a new folder")
    if output.exists():
        if not overwrite:
            raise FileExistsError(f"{output} exists; pass --overwrite to replace it, or another --output")
        shutil.rmtree(output)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    vocab_size = AutoConfig.from_pretrained(checkpoint).vocab_size
    if len(tokenizer) != vocab_size:
        raise ValueError(f"{checkpoint}'s tokenizer has {len(tokenizer)} labels but the model {vocab_size} outputs; they must match one to one")
    decoder = build_decoder(tokenizer, arpa, alpha, beta)

    shutil.copytree(checkpoint, output, ignore=shutil.ignore_patterns(".git", ".cache", "__pycache__"))
    decoder.save_to_dir(str(output))  # alphabet.json, language_model/{attrs.json, unigrams.txt, <arpa>}
    _set_processor_class(output)
    _write_card(checkpoint, output, arpa, alpha, beta, beam_width, tuning, command)
    return output


def _lm_info(arpa: Path) -> dict:
    sidecar = arpa.with_suffix(".json")
    return json.loads(sidecar.read_text()) if sidecar.is_file() else {}


def _write_card(checkpoint: Path, output: Path, arpa: Path, alpha, beta, beam_width, tuning, command) -> None:
    """The LM checkpoint's card: the CTC model's, plus what the LM is; results cleared (`zoo eval` measures them)."""
    from .. import cards
    from ..hub import _display_path

    if not (checkpoint / cards.CARD_DATA_FILE).is_file():
        return  # a checkpoint saved without a card keeps none
    card = cards.load_card_data(checkpoint)
    info = _lm_info(arpa)
    counts = info.get("counts") or (arpa_counts(arpa) if arpa.suffix == ".arpa" else None)
    size = f"{arpa.stat().st_size / 2**20:.1f} MiB"
    what = f"a word {len(counts)}-gram" if counts else "a word n-gram"
    text = info.get("text", {})
    lm_text = (
        f"{what} language model (interpolated modified Kneser-Ney, built by `zoo lm ngram`"
        + (f" from {text['sentences']:,} sentences, {text['words']:,} words: " + "; ".join(f"{n}: {c:,}" for n, c in text["sources"].items()) if text else "")
        + ")" + (f", {' / '.join(f'{c:,}' for c in counts)} n-grams by order" if counts else "") + f", {arpa.suffix[1:].upper()} {size}"
    )
    excluded = ", ".join(f"{name} ({' and '.join(splits)})" for name, splits in text.get("excluded_corpora", {}).items())
    card["model_name"] = output.resolve().name
    card["repo_id"] = f"ORG/{output.resolve().name}"
    card["local_path"] = _display_path(output)
    card["description"] = (
        card["description"]
        + f"\n\nThis folder adds {lm_text} for CTC beam search with pyctcdecode: transformers' stock "
        "`pipeline(\"automatic-speech-recognition\", model=...)` loads it (`alphabet.json`, `language_model/`, "
        f"`\"processor_class\": \"{PROCESSOR_CLASS}\"`) and beam-searches with it, alpha {alpha:g} (LM weight), beta {beta:g} "
        f"(word bonus). The stock pipeline's beam is {PIPELINE_BEAM_WIDTH} wide"
        + (f" (tuned at {beam_width}: pass `decoder_kwargs={{\"beam_width\": {beam_width}}}` to a call for that one)"
           if beam_width != PIPELINE_BEAM_WIDTH else "; `decoder_kwargs={\"beam_width\": 32}` in a call narrows it")
        + ". `AutoProcessor.from_pretrained` gives "
        "a `Wav2Vec2ProcessorWithLM` whose `batch_decode(logits.numpy())` does the same outside the pipeline."
        + (f" The LM never saw a sentence of {excluded}." if excluded else "")
    )
    card["results"] = []
    card["results_table_extra"] = None
    extra = dict(card.get("extra") or {})
    extra["language model"] = lm_text + (f"; perplexity {info['validation']['perplexity']:g} on {info['validation']['name']} "
                                          f"(OOV rate {info['validation']['oov_rate']:.2%})" if info.get("validation") else "")
    if info.get("command"):
        extra["language model command"] = f"`{info['command']}`"
    if command:
        extra["attach command"] = f"`{command}`"
    if tuning:
        extra["alpha / beta tuning"] = (
            f"grid on {tuning['examples']} {tuning['name']} utterances, beam width {tuning['beam_width']}: greedy WER "
            f"{tuning['greedy']['wer']:.4f}, best beam-search WER {tuning['best']['wer']:.4f} at alpha {tuning['best']['alpha']:g}, "
            f"beta {tuning['best']['beta']:g}"
        )
    card["extra"] = extra
    card["limitations"] = list(card.get("limitations") or []) + [
        "LM beam search needs `pip install kenlm` and pyctcdecode (`pip install --no-deps pyctcdecode pygtrie`); without "
        "them the stock pipeline warns and falls back to greedy CTC. transformers marks pyctcdecode decoding as deprecated "
        "and removes it in v6, so this folder needs transformers < 6 (the zoo package pins it)."
    ]
    card["datasets"] = list(dict.fromkeys(list(card.get("datasets") or []) + [n.split(" (")[0] for n in text.get("sources", {}) if "harvested" not in n]))
    cards.write_card(output, card)


# ---------------------------------------------------------------------------------------------------------------
# 3. alpha / beta on the validation split


def model_log_probs(checkpoint: str | Path, waves: list, sampling_rate: int, threads: int | None = None) -> list:
    """`[(steps, vocab_size)]` float32 numpy log-probabilities of a CTC checkpoint for each waveform, one at a time."""
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForCTC

    if threads:
        torch.set_num_threads(threads)
    extractor = AutoFeatureExtractor.from_pretrained(checkpoint)
    model = AutoModelForCTC.from_pretrained(checkpoint).eval()
    out = []
    with torch.inference_mode():
        for wave in waves:
            inputs = extractor(wave, sampling_rate=sampling_rate, return_tensors="pt")
            logits = model(**inputs).logits[0]  # (steps, vocab_size)
            out.append(torch.log_softmax(logits.float(), dim=-1).numpy())
    return out


def tune(
    checkpoint: str | Path, arpa: str | Path, corpus: str, split: str = "validation", examples: int = 200,
    alphas=DEFAULT_ALPHAS, betas=DEFAULT_BETAS, beam_width: int = PIPELINE_BEAM_WIDTH, seed: int = 1234, log=print,
) -> dict:
    """WER of beam search at every (alpha, beta) of a grid on `examples` utterances of `corpus`' `split`.

    The model runs once per utterance; each grid point only decodes the cached log-probabilities.
    Returns `{"name", "examples", "beam_width", "greedy": {wer, cer}, "grid": [{alpha, beta, wer, cer}], "best": {...}}`.
    """
    import numpy as np
    from transformers import AutoTokenizer

    from ..data.hub import load_corpus
    from ..metrics import cer, wer

    rate = int(json.loads((Path(checkpoint) / "preprocessor_config.json").read_text())["sampling_rate"])
    rows = load_corpus(corpus, split=split, sampling_rate=rate)
    if examples < len(rows):
        rows = rows.shuffle(seed=seed).select(range(examples))
    waves = [np.asarray(a["array"], dtype=np.float32) for a in rows["audio"]]
    references = [normalize_text(t) for t in rows["text"]]
    started = time.perf_counter()
    log_probs = model_log_probs(checkpoint, waves, rate)
    log(f"zoo lm: log-probabilities of {len(waves)} {split} utterances in {time.perf_counter() - started:.1f} s")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    greedy = [normalize_text(tokenizer.decode(lp.argmax(-1))) for lp in log_probs]
    result = {
        "name": f"{corpus} ({split})", "examples": len(waves), "beam_width": beam_width,
        "greedy": {"wer": round(wer(references, greedy), 4), "cer": round(cer(references, greedy), 4)}, "grid": [],
    }
    log(f"zoo lm: greedy WER {result['greedy']['wer']:.4f}, CER {result['greedy']['cer']:.4f}")
    decoder = build_decoder(tokenizer, arpa)
    for alpha in alphas:
        for beta in betas:
            decoder.reset_params(alpha=float(alpha), beta=float(beta))
            started = time.perf_counter()
            hypotheses = [normalize_text(decoder.decode(lp, beam_width=beam_width)) for lp in log_probs]
            point = {"alpha": float(alpha), "beta": float(beta), "wer": round(wer(references, hypotheses), 4),
                     "cer": round(cer(references, hypotheses), 4)}
            result["grid"].append(point)
            log(f"zoo lm: alpha {alpha:<4g} beta {beta:<4g} WER {point['wer']:.4f} CER {point['cer']:.4f} "
                f"({time.perf_counter() - started:.1f} s)")
    result["best"] = min(result["grid"], key=lambda p: (p["wer"], p["cer"]))
    return result


# ---------------------------------------------------------------------------------------------------------------
# 4. CLI


def ngram_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo lm ngram",
        description="Build a word n-gram LM (interpolated modified Kneser-Ney, pure Python) from training text, leaving "
        "out every sentence of the evaluation corpora, and write it as an ARPA file plus a .json of its counts and "
        "validation perplexity.",
    )
    parser.add_argument("--corpus", action="append", default=[], help="a speech corpus whose transcripts are training text (repeatable), e.g. data/speech-asr")
    parser.add_argument("--corpus-split", default="train", help="the split of --corpus to read (default: train)")
    parser.add_argument("--sentences", action="store_true", help="add the harvested sentence pool (zoo.data.text)")
    parser.add_argument("--kinds", default=",".join(DEFAULT_KINDS), help=f"sentence kinds of the pool (default: {','.join(DEFAULT_KINDS)}; also: gloss)")
    parser.add_argument("--exclude", action="append", required=True, help="an evaluation corpus whose --exclude-splits sentences are never training text (repeatable), e.g. data/speech-200")
    parser.add_argument("--exclude-splits", default=",".join(EVAL_SPLITS), help="default: validation,test")
    parser.add_argument("--order", type=int, default=3, help="n-gram order (default: 3)")
    parser.add_argument("--eval-split", default="validation", help="split of the first --exclude corpus to report perplexity on (default: validation)")
    parser.add_argument("--output", required=True, help="the ARPA file to write, e.g. lm/zoo-3gram.arpa")
    args = parser.parse_args(argv)
    if not args.output.endswith(".arpa"):
        parser.error(f"--output {args.output} must end in .arpa (pyctcdecode recognises the format by it)")
    if not args.corpus and not args.sentences:
        parser.error("no training text: pass --corpus FOLDER and/or --sentences")
    kinds = tuple(k for k in args.kinds.split(",") if k)
    exclude_splits = tuple(s for s in args.exclude_splits.split(",") if s)

    started = time.perf_counter()
    text, stats = training_text(args.corpus, args.corpus_split, args.sentences, kinds, args.exclude, exclude_splits)
    print(f"zoo lm ngram: {stats['sentences']:,} sentences, {stats['words']:,} words "
          f"({', '.join(f'{n}: {c:,}' for n, c in stats['sources'].items())}; {stats['left_out_as_evaluation_text']:,} left out "
          f"as evaluation text, {stats['duplicates']:,} duplicates)", flush=True)
    lm = build_ngram_lm(text, order=args.order, normalize=False)
    path = lm.write_arpa(args.output)
    counts = lm.counts()
    print(f"zoo lm ngram: order {args.order}, n-grams {' / '.join(f'{c:,}' for c in counts)}, discounts "
          + "; ".join("/".join(f"{d:.3f}" for d in ds) for ds in lm.discounts)
          + f"; {path} {path.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - started:.0f} s", flush=True)
    validation = None
    held_out = _corpus_texts(args.exclude[0], (args.eval_split,))
    if held_out:
        validation = {"name": f"{args.exclude[0]} ({args.eval_split})", **perplexity(lm, held_out)}
        print(f"zoo lm ngram: perplexity {validation['perplexity']:g} on {validation['sentences']} {validation['name']} "
              f"sentences ({validation['words']:,} words, OOV rate {validation['oov_rate']:.2%})")
    info = {"order": args.order, "counts": counts, "discounts": lm.discounts, "text": stats, "validation": validation,
            "arpa_bytes": path.stat().st_size, "command": "zoo lm ngram " + " ".join(argv)}
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return 0


def attach_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo lm attach",
        description="Write a new checkpoint folder: a CTC checkpoint plus an ARPA LM as pyctcdecode's decoder, so that the "
        "stock pipeline('automatic-speech-recognition', model=OUTPUT) beam-searches with the LM.",
    )
    parser.add_argument("checkpoint", help="a CTC checkpoint folder, e.g. checkpoints/ctc-conformer-zoo-16k")
    parser.add_argument("--arpa", required=True, help="the LM, from `zoo lm ngram`")
    parser.add_argument("--output", required=True, help="the new folder, e.g. checkpoints/ctc-conformer-zoo-16k-lm")
    parser.add_argument("--alpha", type=float, default=0.5, help="LM weight (default 0.5; --tune picks it)")
    parser.add_argument("--beta", type=float, default=1.0, help="word insertion bonus (default 1.0; --tune picks it)")
    parser.add_argument("--beam-width", type=int, default=PIPELINE_BEAM_WIDTH, help=f"beam width for --tune and the card (default {PIPELINE_BEAM_WIDTH}, the stock pipeline's)")
    parser.add_argument("--tune", action="store_true", help="pick alpha and beta by WER on a validation subset first")
    parser.add_argument("--tune-corpus", default=None, help="default: the checkpoint recipe's corpus")
    parser.add_argument("--tune-split", default="validation", help="default: validation")
    parser.add_argument("--tune-examples", type=int, default=200, help="utterances (default 200)")
    parser.add_argument("--alphas", default=",".join(map(str, DEFAULT_ALPHAS)), help="alpha grid")
    parser.add_argument("--betas", default=",".join(map(str, DEFAULT_BETAS)), help="beta grid")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    args = parser.parse_args(argv)
    checkpoint = Path(args.checkpoint)
    if not (checkpoint / "config.json").is_file():
        parser.error(f"{checkpoint} has no config.json; pass a CTC checkpoint folder")
    if not Path(args.arpa).is_file():
        parser.error(f"--arpa {args.arpa} not found; build it with `zoo lm ngram ... --output {args.arpa}`")
    if Path(args.output).exists() and not args.overwrite:
        parser.error(f"--output {args.output} exists; pass --overwrite to replace it")
    tuning = None
    alpha, beta = args.alpha, args.beta
    if args.tune:
        corpus = args.tune_corpus
        if corpus is None:
            import yaml

            recipe = checkpoint / "recipe.yaml"
            if not recipe.is_file():
                parser.error(f"{checkpoint} has no recipe.yaml to take the tuning corpus from; pass --tune-corpus")
            corpus = yaml.safe_load(recipe.read_text())["data"]["corpus"]
        tuning = tune(checkpoint, args.arpa, corpus, args.tune_split, args.tune_examples,
                      [float(a) for a in args.alphas.split(",")], [float(b) for b in args.betas.split(",")], args.beam_width)
        alpha, beta = tuning["best"]["alpha"], tuning["best"]["beta"]
        print(f"zoo lm attach: best alpha {alpha:g}, beta {beta:g}: WER {tuning['best']['wer']:.4f} "
              f"(greedy {tuning['greedy']['wer']:.4f}) on {tuning['examples']} {tuning['name']} utterances")
    output = attach_lm(checkpoint, args.arpa, args.output, alpha=alpha, beta=beta, beam_width=args.beam_width,
                       overwrite=args.overwrite, tuning=tuning, command="zoo lm attach " + " ".join(argv))
    print(f"zoo lm attach: wrote {output} (alpha {alpha:g}, beta {beta:g}); "
          f"pipeline('automatic-speech-recognition', model='{output}') decodes with the LM")
    return 0


COMMANDS = {
    "ngram": (ngram_main, "build a word n-gram ARPA LM (modified Kneser-Ney) from training text, evaluation sentences left out"),
    "attach": (attach_main, "attach an ARPA LM to a CTC checkpoint: a new folder the stock pipeline beam-searches with"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print("usage: zoo lm <command> [options]   (zoo lm <command> --help)\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<8} {text}")
        return 0
    if argv[0] not in COMMANDS:
        print(f"zoo lm: unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return int(COMMANDS[argv[0]][0](argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
