"""Character LSTM language model: `<s>` + characters -> the log-probability of every next character (`</s>` last).

Tensor layouts:
    input_ids       (batch, length)          `<s>`, the sentence's characters, `</s>`, then padding
    attention_mask  (batch, length)          1 on real tokens
    labels          (batch, length)          usually `input_ids` with -100 on padding; shifted inside, as in
                                             transformers' causal LMs (position t predicts labels[t + 1])
    logits          (batch, length, vocab)

The recognizers (`LasForSpeechSeq2Seq`, `TransformerAsrForSpeechSeq2Seq`) hold a copy of these layers under the same
names for shallow fusion; `zoo attach-lm` copies a trained LM's weights into a recognizer checkpoint.

This file imports only torch and transformers so that a Hub folder carrying it loads with `trust_remote_code=True`.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from .configuration_char_lm import CharLmConfig


class CharLmPreTrainedModel(PreTrainedModel):
    config_class = CharLmConfig
    base_model_prefix = "char_lm"
    main_input_name = "input_ids"

    def _init_weights(self, module):
        # PyTorch's own init (uniform LSTM weights, N(0, 1) embeddings) rather than N(0, 0.02)
        if isinstance(module, (nn.Linear, nn.Embedding, nn.LSTM)):
            module.reset_parameters()


class CharLmForCausalLM(CharLmPreTrainedModel, GenerationMixin):
    """An LSTM language model over characters, trained on text; a speech recognizer fuses it in when decoding.

    It also continues text through transformers' own `pipeline("text-generation", model=folder)` (no cache: each
    step re-reads the prefix, which is cheap for a small LSTM and short texts).

    Args (forward):
        input_ids: `(batch, length)` ids from the seq2seq character tokenizer, starting with `<s>`.
        attention_mask: `(batch, length)`; unused (the LSTM runs left to right, so right padding never reaches real
            tokens), accepted for the usual call signature.
        labels: `(batch, length)`, -100 where no loss is wanted; with labels the mean cross-entropy of the next
            character is computed (natural log: `loss / ln 2` is bits per character).

    Returns:
        `CausalLMOutput` with `logits` `(batch, length, vocab_size)` and, with labels, `loss`.

    >>> import torch
    >>> model = CharLmForCausalLM(CharLmConfig(hidden_size=16, embedding_size=8, num_layers=1))
    >>> ids = torch.tensor([[30, 6, 4, 23, 31]])  # <s> c a t </s>
    >>> out = model(ids, labels=ids)
    >>> tuple(out.logits.shape), out.loss.dim()
    ((1, 5, 32), 0)
    """

    def __init__(self, config: CharLmConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size)
        self.lstm = nn.LSTM(
            config.embedding_size, config.hidden_size, config.num_layers, batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None, **kwargs) -> CausalLMOutput:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}; tokenize a list of sentences")
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(
                f"input_ids must lie in [0, vocab_size={self.config.vocab_size}), got {input_ids.min().item()}..{input_ids.max().item()}; "
                "encode text with the recognizer's seq2seq tokenizer"
            )
        hidden, _ = self.lstm(self.dropout(self.embed_tokens(input_ids)))  # (batch, length, hidden_size)
        logits = self.lm_head(self.dropout(hidden))  # (batch, length, vocab)
        loss = None
        if labels is not None:
            # position t predicts token t + 1; cross-entropy in float32
            loss = nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, self.config.vocab_size), labels[:, 1:].reshape(-1), ignore_index=-100
            )
        return CausalLMOutput(loss=loss, logits=logits)

    # -- transformers' generate(): the LSTM re-reads the whole prefix at every step, so there is no cache to keep

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, **kwargs) -> dict:
        return {"input_ids": input_ids}
