"""Rendering results: terminal text, list formats, resume."""
