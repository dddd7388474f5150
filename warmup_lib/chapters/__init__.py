"""One module per notebook of the book: its helpers, analysis and claim criteria.

Not public API: these modules exist so that the notebooks stay thin and every verdict's logic is
under tests.  ``notebooks/NN_slug.ipynb`` calls ``warmup_lib.chapters.slug``;
what more than one chapter uses for its prose (:func:`value_range`) lives here.
"""

from __future__ import annotations

from collections.abc import Iterable


def value_range(values: Iterable[float], spec: str = ".2f") -> str:
    """"min-max" of ``values`` for the prose, each written with the format ``spec`` (e.g. ".2g").

    Args:
        values: numbers (a table's column, a generator).
        spec: a format specification.

    Returns:
        The text, or '-' when there are no values.
    """
    values = list(values)
    return f"{min(values):{spec}}-{max(values):{spec}}" if values else "-"
