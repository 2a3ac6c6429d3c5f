"""Speaker models: embeddings (ECAPA-TDNN, x-vector) for verification and diarization, and their log-mel front end."""
