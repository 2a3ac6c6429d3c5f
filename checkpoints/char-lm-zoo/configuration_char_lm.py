"""Configuration of the character LSTM language model the zoo's attention recognizers fuse in at decoding time
(shallow fusion, Gulcehre et al., 2015): character embeddings -> LSTM layers -> next-character logits, over the
recognizers' own character vocabulary."""

from __future__ import annotations

from transformers import PretrainedConfig


class CharLmConfig(PretrainedConfig):
    r"""Configuration for [`CharLmForCausalLM`].

    Its ids must be the recognizer's (`zoo.asr.processing_asr.build_seq2seq_tokenizer`): `zoo attach-lm` refuses an
    LM with another `vocab_size`.

    Args:
        vocab_size: symbols: the seq2seq tokenizer's `len(tokenizer)`.
        embedding_size: width of the character embeddings.
        hidden_size: width of the LSTM layers.
        num_layers: LSTM layers.
        dropout: dropout on the embeddings, between LSTM layers and before the output layer.
        pad_token_id: the padding id.
        bos_token_id: `<s>`, which starts every sentence.
        eos_token_id: `</s>`, which ends every sentence.

    >>> config = CharLmConfig(hidden_size=16, embedding_size=8)
    >>> config.vocab_size, config.bos_token_id, config.eos_token_id
    (32, 30, 31)
    """

    model_type = "char_lm"

    def __init__(
        self,
        vocab_size: int = 32,
        embedding_size: int = 64,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.1,
        pad_token_id: int = 0,
        bos_token_id: int = 30,
        eos_token_id: int = 31,
        **kwargs,
    ):
        ids = {"pad_token_id": pad_token_id, "bos_token_id": bos_token_id, "eos_token_id": eos_token_id}
        outside = {name: value for name, value in ids.items() if not 0 <= value < vocab_size}
        if outside:
            raise ValueError(f"{outside} must lie in [0, vocab_size={vocab_size}); take them from the tokenizer")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)
