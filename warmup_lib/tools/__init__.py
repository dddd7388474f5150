"""Tooling around the science: the command line, the notebook runner and the built-in sweep grids.

Changes here do not change what a notebook computes, so these modules are left out of the
notebooks' input hash (:func:`warmup_lib.tools.notebooks.package_hash`).
"""
