"""The processor of a zoo CTC checkpoint that carries an n-gram language model: transformers' own
`Wav2Vec2ProcessorWithLM` (feature extractor + CTC tokenizer + pyctcdecode beam search decoder), opened to any
feature extractor.

transformers' class refuses every feature extractor but `Wav2Vec2FeatureExtractor` and `SeamlessM4TFeatureExtractor`
by class name, so it cannot hold the log-mel `AsrFeatureExtractor` of the zoo recognizers; this subclass drops only
that check and keeps the rest (the decoder's alphabet must cover the tokenizer's vocabulary). Its `batch_decode` /
`decode` are transformers' own: `processor.batch_decode(logits.numpy())` returns beam-searched text.

A checkpoint folder names it in `preprocessor_config.json` (`"processor_class": "AsrProcessorWithLM"`); the name
ends in "WithLM", which is what makes transformers' stock `pipeline("automatic-speech-recognition", model=folder)`
load the folder's pyctcdecode decoder (`alphabet.json`, `language_model/`) and decode with it. `import zoo` registers
the class with `AutoProcessor`; where zoo is not installed the folder's copy of this file loads with
`AutoProcessor.from_pretrained(folder, trust_remote_code=True)`.

This file imports only transformers (and pyctcdecode when a processor is built) so that it ships in a Hub folder.
"""

from __future__ import annotations

from transformers import ProcessorMixin, Wav2Vec2ProcessorWithLM


class AsrProcessorWithLM(Wav2Vec2ProcessorWithLM):
    r"""transformers' `Wav2Vec2ProcessorWithLM` for any CTC feature extractor (the zoo's log-mel one included).

    Args:
        feature_extractor: the checkpoint's feature extractor (e.g. `AsrFeatureExtractor`).
        tokenizer: its CTC tokenizer (`Wav2Vec2CTCTokenizer`: blank `<pad>`, word delimiter `|`).
        decoder: a `pyctcdecode.BeamSearchDecoderCTC` whose alphabet lists the tokenizer's labels in id order.
    """

    def __init__(self, feature_extractor, tokenizer, decoder):
        from pyctcdecode import BeamSearchDecoderCTC

        # transformers' __init__ would refuse the feature extractor by class name; the processor mixin checks the rest
        ProcessorMixin.__init__(self, feature_extractor, tokenizer)
        if not isinstance(decoder, BeamSearchDecoderCTC):
            raise TypeError(
                f"decoder must be a pyctcdecode.BeamSearchDecoderCTC, got {type(decoder).__name__}; build one with "
                "zoo.asr.lm.build_decoder(tokenizer, arpa_path) or pyctcdecode.build_ctcdecoder(labels, arpa_path)"
            )
        missing = self.get_missing_alphabet_tokens(decoder, tokenizer)
        if missing:
            raise ValueError(
                f"the decoder's alphabet lacks the tokenizer's labels {sorted(missing)}; build the decoder from the "
                "tokenizer's vocabulary in id order (zoo.asr.lm.ctc_labels(tokenizer))"
            )
        self.decoder = decoder
