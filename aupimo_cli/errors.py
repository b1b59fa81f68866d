"""Errors the command line reports as bad input (exit code 2) rather than as internal errors (exit 1)."""

from __future__ import annotations

from collections.abc import Sequence


class InputError(Exception):
    """Bad input or usage: the message is one line that names the file (or option) and says how to fix it."""


MAX_LISTED = 5
"""How many items an error message lists before saying how many more there are."""


def listing(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """Up to `limit` items joined by commas, then "and N more", for one-line messages.

    Examples:
        >>> listing(["a", "b", "c", "d", "e", "f", "g"])
        'a, b, c, d, e and 2 more'
    """
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown
