"""Errors the command line reports as bad input (exit code 2) rather than as internal errors (exit 1)."""

from __future__ import annotations


class InputError(Exception):
    """Bad input or usage: the message is one line that names the file (or option) and says how to fix it."""
