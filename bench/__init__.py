"""Benchmarks: `python -m bench.<name>` prints a markdown table (ratios against a baseline timed in the same run)."""
