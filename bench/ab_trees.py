"""Two source trees, one benchmark, rounds A B B A: medians per tree and the spread of the paired ratios.

Runs ``SCRIPT ARGS...`` (a benchmark of this folder that prints tables: ``label  value value ...`` under a header
``title  column  column ...``) once per tree and round, each in its own process with that tree's package first
(``PYTHONPATH=TREE``: export each commit with ``git archive COMMIT | tar -x -C TREE``), in the order A B B A per pair
of rounds (a load that rises or falls during the runs weighs on both trees alike). Prints, per table row and column,
the median of each tree, the ratio of the medians B / A, and the min-max of the per-round ratios (``**``: all on one
side of 1). ``--cpu-clocks``: every ``time.perf_counter(_ns)`` reads ``time.process_time(_ns)`` (stage rows in CPU
ms: on a machine shared with other work the wall-clock rows measure the scheduler as much as the code). Usage::

    python bench/ab_trees.py --tree /tmp/before --tree /tmp/after --rounds 4 [--cpu-clocks] \\
        -- bench/bench_bag.py --frames 24 --no-large --no-trace
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

_CPU_CLOCKS = (
    "import runpy, sys, time; time.perf_counter = time.process_time; time.perf_counter_ns = time.process_time_ns; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)
_SPLIT = re.compile(r"\s{2,}")


def _tables(text: str) -> dict[tuple[str, str], float]:
    """``(row label, column name) -> value`` of every table row whose values are numbers (the last header seen
    names the columns; a label repeated in a later table keeps the first value)."""
    values: dict[tuple[str, str], float] = {}
    columns: list[str] = []
    for line in text.splitlines():
        cells = _SPLIT.split(line.strip())
        if len(cells) < 2:
            continue
        try:
            numbers = [float(cell) for cell in cells[1:]]
        except ValueError:
            columns = cells[1:]
            continue
        if len(numbers) == len(columns):
            for column, number in zip(columns, numbers, strict=True):
                values.setdefault((cells[0], column), number)
    return values


def _run(tree: Path, script: list[str], cpu_clocks: bool) -> dict[tuple[str, str], float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, *(["-c", _CPU_CLOCKS] if cpu_clocks else []), str(tree / script[0]), *script[1:]]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # its own error, not a traceback of this script's subprocess call
        tail = "\n".join(done.stderr.splitlines()[-20:])
        msg = f"{' '.join(command)} (tree {tree}) exited with {done.returncode}:\n{tail}\nrun it alone there to see why"
        raise SystemExit(msg)
    return _tables(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", type=Path, required=True, help="A, then B (twice)")
    parser.add_argument("--rounds", type=int, default=4, help="runs per tree (A B B A per two rounds)")
    parser.add_argument("--cpu-clocks", action="store_true", help="perf_counter reads process_time")
    parser.add_argument("--column", action="append", default=[], help="columns to print (default: all)")
    parser.add_argument("script", nargs="+", help="benchmark script (relative to each tree) and its arguments")
    args = parser.parse_args()
    if len(args.tree) != 2:
        parser.error("give --tree twice (A, then B)")
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: give at least 1 (an even number balances A B B A)")
    runs: dict[int, list[dict[tuple[str, str], float]]] = {0: [], 1: []}
    for round_ in range(args.rounds):
        for which in (0, 1) if round_ % 2 == 0 else (1, 0):
            runs[which].append(_run(args.tree[which], args.script, args.cpu_clocks))
            print(f"round {round_ + 1}: {'AB'[which]} done", file=sys.stderr, flush=True)
    keys = [key for key in runs[0][0] if all(key in run for run in runs[0] + runs[1])]
    keys = [key for key in keys if not args.column or key[1] in args.column]
    print(f"A = {args.tree[0]}, B = {args.tree[1]}: {args.rounds} runs each, rounds A B B A; cpu clocks: "
          f"{args.cpu_clocks}; medians, ratio B / A of the medians, min-max of the per-round ratios")  # fmt: skip
    for column in dict.fromkeys(key[1] for key in keys):
        print(f"\n{'row (' + column + ')':<40}{'A':>10}{'B':>10}{'ratio':>8}  spread")
        for label, _ in (key for key in keys if key[1] == column):
            a = [run[(label, column)] for run in runs[0]]
            b = [run[(label, column)] for run in runs[1]]
            ma, mb = statistics.median(a), statistics.median(b)
            ratios = [y / x for x, y in zip(a, b, strict=True) if x]
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
            mark = " **" if ratios and (max(ratios) < 1 or min(ratios) > 1) else ""
            ratio = f"{mb / ma:.2f}" if ma else "-"
            print(f"{label:<40}{ma:>10.2f}{mb:>10.2f}{ratio:>8}  {spread}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
