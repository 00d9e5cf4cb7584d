"""QSER Lab benchmarks: ``python -m benchmarks [--quick]`` (also ``qser bench``), from a checkout.

Each row module (``bench_*.py``, plus ``accuracy.py`` where present) exposes
``run(quick: bool) -> list[dict]``; the rows (:func:`benchmarks.common.row`) are written to
``benchmarks/results/<date>-<host>.json`` with the machine, package versions and git commit, and
``python -m benchmarks.readme_table`` copies the newest full run into the README.
"""
