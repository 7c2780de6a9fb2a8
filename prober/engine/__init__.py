"""The probing engine: sessions over the SMTP layer, list scheduling, verdicts."""
