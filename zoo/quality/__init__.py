"""Speech quality assessment: models that score audio (or a separator's output) without a clean reference."""
