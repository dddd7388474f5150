"""One module per notebook of the book: its helpers, analysis and claim criteria.

Not public API: these modules exist so that the notebooks stay thin and every verdict's logic is
under tests.  ``notebooks/NN_slug.ipynb`` calls ``warmup_lib.chapters.slug``.
"""
