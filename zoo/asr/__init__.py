"""Speech recognition for transformers' own `pipeline("automatic-speech-recognition")`: CTC models (CTC Conformer),
attention encoder-decoders trained jointly with CTC (LAS, Transformer ASR; joint CTC/attention beam search in their
`generate()`), the character LM they fuse in (`char_lm`, `zoo attach-lm`), the log-mel front end and the tokenizers."""
