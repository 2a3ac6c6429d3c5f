"""Shallow fusion: put a trained character LM inside a trained seq2seq recognizer checkpoint.

    zoo attach-lm checkpoints/transformer-asr-joint-zoo-16k checkpoints/char-lm-zoo --lm-weight 0.3 \\
        --output checkpoints/transformer-asr-joint-lm-zoo-16k

`--output` may be the recognizer's own folder: the shipped recognizer then holds its LM, and `zoo eval --lm-weight 0`
(or `--num-beams 1 --ctc-weight 0 --lm-weight 0`) still measures it without. Results `zoo eval` wrote into the
recognizer's card are kept (their names say which decoding they measured).

The recognizer (`LasForSpeechSeq2Seq` or `TransformerAsrForSpeechSeq2Seq`) gets the LM's config as `lm_config` and
its weights under `lm.` in the same model.safetensors, and `lm_weight` in its generation_config.json, so its own
`generate()` (and the stock `pipeline("automatic-speech-recognition")`, which calls it) scores hypotheses with
`(1 - ctc_weight) * log p_attention + ctc_weight * log p_ctc + lm_weight * log p_lm` with no arguments. The new
folder is a complete checkpoint (feature extractor, tokenizer, recipe, card, remote code) and still decodes without
the LM when asked (`lm_weight=0`).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

# the CharLmConfig fields the recognizers' FusionLm reads, and the token ids that must match
LM_FIELDS = ("model_type", "vocab_size", "embedding_size", "hidden_size", "num_layers", "dropout", "pad_token_id", "bos_token_id", "eos_token_id")


def attach_char_lm(
    asr_checkpoint, lm_checkpoint, output_dir, lm_weight: float = 0.3, num_beams: int | None = None, ctc_weight: float | None = None
) -> Path:
    """Write `output_dir`: the recognizer of `asr_checkpoint` holding the character LM of `lm_checkpoint`.

    Args:
        asr_checkpoint: a seq2seq recognizer folder (written by `zoo train`, or `save_checkpoint`).
        lm_checkpoint: a `CharLmForCausalLM` folder trained with the same character vocabulary.
        output_dir: the new checkpoint folder.
        lm_weight: the default shallow-fusion weight (generation_config.json's `lm_weight`).
        num_beams: the default beam width; None keeps the recognizer's.
        ctc_weight: the default CTC weight of joint decoding; None keeps the recognizer's.

    Returns:
        The folder.
    """
    from transformers import AutoModelForCausalLM, AutoModelForSpeechSeq2Seq, AutoProcessor, AutoTokenizer

    import zoo  # noqa: F401  (registers the zoo models with the Auto classes)

    from .. import cards
    from ..hub import save_checkpoint, update_card_results

    asr_checkpoint, lm_checkpoint = Path(asr_checkpoint), Path(lm_checkpoint)
    asr = AutoModelForSpeechSeq2Seq.from_pretrained(asr_checkpoint)
    lm = AutoModelForCausalLM.from_pretrained(lm_checkpoint)
    if lm.config.model_type != "char_lm":
        raise ValueError(f"{lm_checkpoint} is a {lm.config.model_type!r} model; attach a char_lm checkpoint (zoo train recipes/char-lm-zoo.yaml)")
    asr_vocab, lm_vocab = AutoTokenizer.from_pretrained(asr_checkpoint).get_vocab(), AutoTokenizer.from_pretrained(lm_checkpoint).get_vocab()
    if asr_vocab != lm_vocab:
        differ = sorted(set(asr_vocab.items()) ^ set(lm_vocab.items()))[:5]
        raise ValueError(
            f"the LM's vocabulary differs from the recognizer's (e.g. {differ}); train the LM with the recognizer's "
            "tokenizer (zoo.asr.processing_asr.build_seq2seq_tokenizer)"
        )
    if lm_weight < 0:
        raise ValueError(f"lm_weight must be >= 0, got {lm_weight}")

    # 1. the recognizer again, now with an LM inside: its weights as trained, the LM's copied in
    config = copy.deepcopy(asr.config)
    config.lm_config = {field: getattr(lm.config, field) for field in LM_FIELDS}
    fused = type(asr)(config)
    # an LM the recognizer already holds (attaching again) is replaced, whatever its size
    trained = {name: value for name, value in asr.state_dict().items() if not name.startswith("lm.")}
    missing, unexpected = fused.load_state_dict(trained, strict=False)
    if unexpected or any(not name.startswith("lm.") for name in missing):
        raise RuntimeError(f"{asr_checkpoint} does not fit its own class: missing {missing}, unexpected {unexpected}")
    fused.lm.load_state_dict({name: value for name, value in lm.state_dict().items() if name.split(".")[0] in ("embed_tokens", "lstm", "lm_head")})
    fused.generation_config = copy.deepcopy(asr.generation_config)
    fused.generation_config.lm_weight = float(lm_weight)
    if num_beams is not None:
        fused.generation_config.num_beams = int(num_beams)
    if ctc_weight is not None:
        fused.generation_config.ctc_weight = float(ctc_weight)
    fused.eval()
    del asr, trained  # `output_dir` may be the recognizer's folder: nothing may read its old weights file any more

    # 2. a complete checkpoint: processor, recipe, card naming both parents
    recipe_path = asr_checkpoint / "recipe.yaml"
    asr_card = cards.load_card_data(asr_checkpoint) if (asr_checkpoint / cards.CARD_DATA_FILE).is_file() else {}
    lm_card = cards.load_card_data(lm_checkpoint) if (lm_checkpoint / cards.CARD_DATA_FILE).is_file() else {}
    datasets = list(dict.fromkeys(list(asr_card.get("datasets") or []) + list(lm_card.get("datasets") or [])))
    folder = save_checkpoint(
        fused,
        output_dir,
        feature_extractor=AutoProcessor.from_pretrained(asr_checkpoint),
        task="automatic-speech-recognition",
        recipe_path=str(recipe_path) if recipe_path.is_file() else None,
        command=asr_card.get("command"),
        datasets=datasets,
        extra={
            **(asr_card.get("extra") or {}),  # the recognizer's training details
            "recognizer": str(asr_checkpoint),
            "language model command": lm_card.get("command") or "",
            "attach command": f"zoo attach-lm {asr_checkpoint} {lm_checkpoint} --lm-weight {lm_weight} --output {output_dir}"
            + (f" --num-beams {num_beams}" if num_beams is not None else "") + (f" --ctc-weight {ctc_weight}" if ctc_weight is not None else ""),
            "fused_language_model": f"{lm_checkpoint} (character LSTM, {lm.num_parameters() / 1e6:.2f} M parameters)",
            "decoding": json.dumps({k: getattr(fused.generation_config, k, None) for k in ("num_beams", "ctc_weight", "lm_weight")}),
        },
    )
    if asr_card.get("results"):
        # what `zoo eval` measured on the recognizer still holds for the decodings it names (the LM only joins in
        # with lm_weight > 0): keep it next to the new results
        update_card_results(folder, asr_card["results"], table_markdown=asr_card.get("results_table_extra") or "")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo attach-lm",
        description="Put a trained character LM (shallow fusion) inside a trained seq2seq recognizer checkpoint; the "
        "stock ASR pipeline then decodes with it by default.",
    )
    parser.add_argument("asr_checkpoint", help="a LAS or Transformer ASR checkpoint folder")
    parser.add_argument("lm_checkpoint", help="a char_lm checkpoint folder (zoo train recipes/char-lm-zoo.yaml)")
    parser.add_argument("--output", required=True, help="the new checkpoint folder")
    parser.add_argument("--lm-weight", type=float, default=0.3, help="default shallow-fusion weight (default: 0.3)")
    parser.add_argument("--num-beams", type=int, help="default beam width (default: the recognizer's)")
    parser.add_argument("--ctc-weight", type=float, help="default CTC weight of joint decoding (default: the recognizer's)")
    args = parser.parse_args(argv)
    try:
        folder = attach_char_lm(args.asr_checkpoint, args.lm_checkpoint, args.output, args.lm_weight, args.num_beams, args.ctc_weight)
    except (ValueError, OSError) as error:
        print(f"zoo attach-lm: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
