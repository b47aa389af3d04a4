"""scripts/cache_lock.sh (the real-ROS tier's pip caches): two first runs at once build a cache once, in turn."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "cache_lock.sh"

# a stand-in for the tier's pip install: slow enough that two unlocked runs overlap (each notes start and end)
RUN = """
set -euo pipefail
source "$1"
fill() { echo "start $2" >> "$3"; sleep 1; echo pkg > "$1/module.py"; echo "end $2" >> "$3"; }
build_once "$4" build_with_args
"""


def run_two_at_once(tmp_path: Path, fails: bool = False) -> list[str]:
    cache, log = tmp_path / "ros2-pydeps-abc", tmp_path / "log"
    runs = []
    for name in ("first", "second"):
        script = RUN.replace(
            "build_once", f'build_with_args() {{ {"false; " if fails else ""}fill "$1" {name} "{log}"; }}\nbuild_once'
        )
        runs.append(subprocess.Popen(["bash", "-c", script, "bash", str(SCRIPT), "", "", str(cache)]))
    codes = [run.wait(30) for run in runs]
    assert codes == ([1, 1] if fails else [0, 0]), codes
    return log.read_text().split("\n")[:-1] if log.exists() else []


def test_two_first_builds_at_once_build_the_cache_once_and_both_find_it_complete(tmp_path: Path) -> None:
    events = run_two_at_once(tmp_path)
    assert len(events) == 2 and events[0].startswith("start ") and events[1] == "end " + events[0][6:], events
    cache = tmp_path / "ros2-pydeps-abc"
    assert (cache / ".complete").exists() and (cache / "module.py").read_text() == "pkg\n"


def test_a_build_that_fails_leaves_no_complete_mark_and_the_next_run_builds_anew(tmp_path: Path) -> None:
    assert run_two_at_once(tmp_path, fails=True) == []  # each tried in turn, neither marked the cache complete
    assert not (tmp_path / "ros2-pydeps-abc" / ".complete").exists()
    assert len(run_two_at_once(tmp_path)) == 2  # one build, the other found it
