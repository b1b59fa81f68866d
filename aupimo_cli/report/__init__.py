"""Rendering results: writers of the result files, manifests, atomic folder replacement, comparison files."""
