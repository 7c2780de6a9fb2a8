"""The SMTP layer: replies and their parser, the dialogue (pure), one connection (I/O)."""
