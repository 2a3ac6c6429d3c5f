"""Speech recognition: CTC models (CTC Conformer), their log-mel front end and character tokenizer, for transformers' own `pipeline("automatic-speech-recognition")`."""
