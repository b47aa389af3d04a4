"""test/ros2/domains.py and scripts/ros2_tier.sh's workers: the real-ROS tier runs test/ros2 on pytest-xdist workers
(MONO_DEPTH_ROS2_WORKERS, 2 by default), worker gwN in ROS domain ROS_DOMAIN_ID + N, and every domain stays in 0..232
(Cyclone DDS's)."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from test.ros2.domains import MAX_DOMAIN_ID, worker_domain_id

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "ros2_tier.sh"


def test_worker_n_runs_in_the_tiers_domain_plus_n_and_a_serial_run_in_the_tiers_own() -> None:
    assert worker_domain_id("40", None) is None  # not a worker: ROS_DOMAIN_ID stays as the user set it
    assert worker_domain_id("40", "") is None
    assert worker_domain_id("40", "gw0") == 40
    assert worker_domain_id("40", "gw1") == 41
    assert worker_domain_id("40", "gw12") == 52
    assert worker_domain_id(None, "gw1") == 1  # no ROS_DOMAIN_ID: ROS's default, 0
    assert worker_domain_id("", "gw0") == 0
    assert worker_domain_id(" 7 ", "gw1") == 8


def test_the_last_valid_domain_is_232_for_every_worker() -> None:
    assert MAX_DOMAIN_ID == 232
    assert worker_domain_id("232", None) is None
    assert worker_domain_id("232", "gw0") == 232
    assert worker_domain_id("231", "gw1") == 232
    with pytest.raises(
        ValueError, match=r"ROS_DOMAIN_ID=232 puts pytest-xdist worker gw1 in domain 233, past 232"
    ) as e:
        worker_domain_id("232", "gw1")
    assert "ROS_DOMAIN_ID <= 231" in str(e.value) and "MONO_DEPTH_ROS2_WORKERS=1" in str(e.value)  # the remedies


@pytest.mark.parametrize("base", ["233", "-1", "forty", "4.0"])
def test_a_domain_id_that_is_not_one_of_cyclones_is_an_error_naming_it(base: str) -> None:
    with pytest.raises(ValueError, match=rf"ROS_DOMAIN_ID='{base}': use an integer from 0 to 232"):
        worker_domain_id(base, "gw0")
    with pytest.raises(ValueError, match="use an integer from 0 to 232"):
        worker_domain_id(base, None)


def test_a_worker_id_that_is_not_xdists_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"PYTEST_XDIST_WORKER='master': expected gw0, gw1"):
        worker_domain_id("40", "master")


def fake_runtime(tmp_path: Path) -> dict[str, str]:
    """The environment of a tier run that finds a ROS 2 runtime already installed (a stand-in: its env.sh gives a
    ``ros2`` that succeeds and a ``python3`` that answers the version and fails at anything else, so the script stops
    with 3 at step 2, after its checks of the workers and their domains)."""
    shared = tmp_path / "shared_ros2"
    shared.mkdir()
    (shared / "install.sh").write_text("exit 1\n")
    (shared / "ros2.tar.zst.sha256").write_text(f"{hashlib.sha256(b'x').hexdigest()}  ros2.tar.zst\n")
    runtime = tmp_path / "ros2-humble"
    runtime.mkdir()
    (runtime / ".mono_depth_tarball.sha256").write_text(hashlib.sha256(b"x").hexdigest() + "\n")
    (runtime / "env.sh").write_text(
        'export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-7}"\n'
        "ros2() { return 0; }\n"
        'python3() { [[ "$*" == *sys.version* ]] && echo 3.11.2 && return 0; return 3; }\n'
    )
    environ = {
        key: value for key, value in os.environ.items() if key not in ("ROS_DOMAIN_ID", "MONO_DEPTH_ROS2_WORKERS")
    }
    return {**environ, "MONO_DEPTH_SHARED_ROS2": str(shared), "ROS2_HUMBLE_DIR": str(runtime), "HOME": str(tmp_path)}


def run_tier(environ: dict[str, str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "-k", "x"],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_tier_runs_two_workers_by_default_and_as_many_as_asked(tmp_path: Path) -> None:
    environ = fake_runtime(tmp_path)
    default = run_tier(environ, ROS_DOMAIN_ID="40")
    assert default.returncode == 3, default.stderr  # the stand-in python3's stop, past the checks
    assert "domain 40, 2 test worker(s)" in default.stdout
    serial = run_tier(environ, ROS_DOMAIN_ID="40", MONO_DEPTH_ROS2_WORKERS="1")
    assert serial.returncode == 3 and "domain 40, 1 test worker(s)" in serial.stdout, serial.stderr
    unset = run_tier(environ, MONO_DEPTH_ROS2_WORKERS="3")  # env.sh's own domain when the user sets none
    assert unset.returncode == 3 and "domain 7, 3 test worker(s)" in unset.stdout, unset.stderr


def test_a_users_domain_near_232_keeps_working_with_fewer_workers_unless_more_were_asked_for(tmp_path: Path) -> None:
    environ = fake_runtime(tmp_path)
    last = run_tier(environ, ROS_DOMAIN_ID="232")
    assert last.returncode == 3 and "domain 232, 1 test worker(s)" in last.stdout, last.stderr
    asked = run_tier(environ, ROS_DOMAIN_ID="232", MONO_DEPTH_ROS2_WORKERS="2")
    assert asked.returncode == 2
    assert "ROS_DOMAIN_ID=232 with MONO_DEPTH_ROS2_WORKERS=2" in asked.stderr
    assert "use ROS_DOMAIN_ID <= 231 or fewer workers" in asked.stderr


@pytest.mark.parametrize(("env", "message"), [
    ({"ROS_DOMAIN_ID": "233"}, "ROS_DOMAIN_ID=233: use an integer from 0 to 232"),
    ({"ROS_DOMAIN_ID": "x"}, "ROS_DOMAIN_ID=x: use an integer from 0 to 232"),
    ({"ROS_DOMAIN_ID": "40", "MONO_DEPTH_ROS2_WORKERS": "0"}, "MONO_DEPTH_ROS2_WORKERS=0: use a whole number >= 1"),
    ({"ROS_DOMAIN_ID": "40", "MONO_DEPTH_ROS2_WORKERS": "two"}, "MONO_DEPTH_ROS2_WORKERS=two: use a whole number"),
])  # fmt: skip
def test_a_bad_domain_or_worker_count_stops_the_tier_before_it_builds_anything(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = run_tier(fake_runtime(tmp_path), **env)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / ".cache").exists()


def test_step_5_runs_the_workers_a_module_each_and_stops_every_workers_daemon() -> None:
    """--dist loadfile: test_ros2_node.py's module-scoped fixtures share one node among the module's tests, in order;
    `ros2 param` starts a daemon in each worker's domain, and the tier's end stops them all."""
    text = SCRIPT.read_text()
    assert 'xdist_args=(-n "$workers" --dist loadfile --max-worker-restart 0)' in text
    assert 'python3 -m pytest -p no:cacheprovider "${xdist_args[@]}" test/ros2 "$@"' in text
    assert "for ((domain = ROS_DOMAIN_ID; domain < ROS_DOMAIN_ID + workers; domain++)); do" in text
    # before the tests as well as at the end: an interrupted run's daemon (rclpy shut down by the signal, its XML-RPC
    # still serving) made every `ros2 param` of the next run in that domain fail with '!rclpy.ok()'
    assert text.count("\n  stop_daemons\n") == 1, "the end (cleanup) stops every worker's daemon"
    assert "\nstop_daemons\ntests_start=$SECONDS\npython3 -m pytest" in text, "the start stops a left-over daemon"
    assert "pytest-timeout \\\n    pytest-xdist execnet" in text  # into the cached PYDEPS, with constraints.txt's pins
    pins = (REPO_ROOT / "constraints.txt").read_text().split()
    assert "pytest-xdist==3.8.0" in pins and "execnet==2.1.2" in pins  # 3.8.0 needs pytest >= 7.0: Debian's is 7.2.1


CRASHING = """
import os

def test_crashes_its_worker():
    os._exit(1)  # gw0 or gw1: loadfile gives the module to either

def test_after_the_crash():
    print("ran in", os.environ["PYTEST_XDIST_WORKER"])
"""


def test_a_crashed_worker_is_not_replaced_by_one_in_a_domain_past_the_tiers() -> None:
    """pytest-xdist replaces a crashed worker with a new id (gw0 or gw1 crashes: gw2 follows), which would run in domain
    ROS_DOMAIN_ID + 2: past the domains the tier checked against 232 and announced, with a ros2 daemon the tier's end
    does not stop. With step 5's arguments a crash ends the run, failing, naming the worker and the test (as a crash
    of a serial run does)."""
    line = re.search(r"^\[ \"\$workers\" -gt 1 \] && xdist_args=\((.*)\)$", SCRIPT.read_text(), re.M)
    assert line is not None
    args = shlex.split(line.group(1).replace('"$workers"', "2"))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "test_crashing.py").write_text(CRASHING)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", *args, folder],
            capture_output=True, text=True, timeout=120, check=False, cwd=folder,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert re.search(
        r"worker 'gw[01]' crashed while running 'test_crashing.py::test_crashes_its_worker'", result.stdout
    )
    assert "gw2" not in result.stdout, result.stdout


def test_a_domain_id_with_a_leading_zero_is_read_in_decimal_as_ros_reads_it(tmp_path: Path) -> None:
    """rcl reads ROS_DOMAIN_ID=08 as domain 8; bash's arithmetic would read it as octal and stop the tier with
    "value too great for base"."""
    environ = fake_runtime(tmp_path)
    result = run_tier(environ, ROS_DOMAIN_ID="08")
    assert result.returncode == 3 and "domain 8, 2 test worker(s)" in result.stdout, result.stderr
    near = run_tier(environ, ROS_DOMAIN_ID="0232")
    assert near.returncode == 3 and "domain 232, 1 test worker(s)" in near.stdout, near.stderr
