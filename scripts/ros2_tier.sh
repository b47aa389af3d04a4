#!/usr/bin/env bash
# Real-ROS 2 test tier: colcon-build this package beside a real ROS 2 Humble and run test/ros2/ against it.
#
#   bash scripts/ros2_tier.sh [pytest args...]        (make ros2-test; part of make test)
#
# Steps (each cached, so a second run costs only the build and the tests):
#   1. the ROS 2 runtime: ../shared/ros2/install.sh into $ROS2_HUMBLE_DIR (default ~/.cache/mono_depth_ros/ros2-humble)
#      when it is missing or the shipped tarball changed (needs root or sudo for apt: CI runs as root);
#   2. pip packages beside ROS (ROS's Python is Debian's python3 with Debian's numpy, not the project's .venv):
#      torch==2.13.0 and the package's requirements with `pip install --target`, numpy pinned to ROS's and removed
#      from the target, cached per hash of setup.py + constraints.txt + ROS's numpy; built under a lock
#      (scripts/cache_lock.sh: two first runs at once build it once, the second waits and uses it);
#   3. the unit tests of what the node and the bag runner run (UNIT_TESTS below: core/, adapters/, bag/, the pipeline,
#      model loading / preprocessing, the evaluation metrics) with ROS's python3, numpy and python3-opencv 4.6, from the
#      working tree (no build needed); their test-only packages (hypothesis, pillow, onnxruntime, onnx, onnxscript) go
#      into a second cached --target beside the first, so the node's own runtime in step 5 stays without them;
#   4. colcon build --merge-install of a copy of the working tree (tracked + untracked, not ignored files) in a
#      temporary workspace;
#   5. python3 -m pytest test/ros2 with the workspace sourced: the tests start the node with `ros2 launch`; on
#      MONO_DEPTH_ROS2_WORKERS pytest-xdist workers (default 2; 1: one process, serial, e.g. for --pdb), a test module
#      per worker at a time (--dist loadfile: a module's node-sharing fixtures and its tests' order stay together),
#      worker gwN in ROS domain ROS_DOMAIN_ID + N (test/ros2/domains.py), so ROS_DOMAIN_ID + workers - 1 <= 232; a
#      worker that crashes ends the run (--max-worker-restart 0: its replacement would be gw<workers>, past them).
# Step 3 runs with the whole tier (no arguments: make test); given pytest arguments (`-k launch`) the tier runs step 5
# with them and skips step 3. MONO_DEPTH_ROS2_UNIT=only runs step 3 alone (pytest arguments go to it), =1 runs it
# also with arguments, =0 never. Failed tests in step 3 do not stop steps 4 and 5 (they test the node apart): the
# tier then fails at its end, naming step 3 and how to rerun it alone.
# Where the runtime cannot be installed (no ../shared/ros2, not root and no sudo) the tier is skipped with the
# reason and exit 0; set MONO_DEPTH_REQUIRE_ROS2=1 to make that an error. Any failure after that is an error.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED_ROS2="${MONO_DEPTH_SHARED_ROS2:-$REPO/../shared/ros2}"
DEST="${ROS2_HUMBLE_DIR:-$HOME/.cache/mono_depth_ros/ros2-humble}"
CACHE="$(dirname "$DEST")"
TORCH_PIN="torch==2.13.0"

say() { echo "[ros2-tier +${SECONDS}s] $*"; }
skip() {
  if [ "${MONO_DEPTH_REQUIRE_ROS2:-0}" = 1 ]; then
    echo "ros2 tier: cannot run: $*" >&2
    exit 1
  fi
  echo "ros2 tier: SKIPPED (not an error): $*"
  exit 0
}

# 1. runtime ---------------------------------------------------------------------------------------------------
[ -f "$SHARED_ROS2/install.sh" ] || skip "no ROS 2 runtime at $SHARED_ROS2 (install.sh missing)"
want_sha="$(cut -d' ' -f1 "$SHARED_ROS2"/*.tar.zst.sha256 2>/dev/null | head -n1)"
have_sha="$(cat "$DEST/.mono_depth_tarball.sha256" 2>/dev/null || true)"
if [ ! -f "$DEST/env.sh" ] || [ "$want_sha" != "$have_sha" ]; then
  if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
    skip "installing ROS 2 needs root or password-less sudo (apt-get); run: sudo bash $SHARED_ROS2/install.sh"
  fi
  say "installing the ROS 2 runtime into $DEST"
  bash "$SHARED_ROS2/install.sh" "$DEST"
  echo "$want_sha" > "$DEST/.mono_depth_tarball.sha256"
fi
# shellcheck disable=SC1091
source "$DEST/env.sh"
# step 5's workers: worker N runs in ROS domain ROS_DOMAIN_ID + N, and Cyclone DDS takes 0 to 232
workers="${MONO_DEPTH_ROS2_WORKERS:-2}"
if ! [[ "$workers" =~ ^[1-9][0-9]*$ ]]; then
  echo "ros2 tier: MONO_DEPTH_ROS2_WORKERS=$workers: use a whole number >= 1 (1: serial)" >&2
  exit 2
fi
if ! [[ "$ROS_DOMAIN_ID" =~ ^[0-9]+$ ]] || [ "$ROS_DOMAIN_ID" -gt 232 ]; then
  echo "ros2 tier: ROS_DOMAIN_ID=$ROS_DOMAIN_ID: use an integer from 0 to 232 (Cyclone DDS's domain ids)" >&2
  exit 2
fi
export ROS_DOMAIN_ID=$((10#$ROS_DOMAIN_ID))  # 08 is domain 8 to rcl; to bash's arithmetic below, bad octal
if [ $((ROS_DOMAIN_ID + workers - 1)) -gt 232 ]; then
  if [ -n "${MONO_DEPTH_ROS2_WORKERS:-}" ]; then
    echo "ros2 tier: ROS_DOMAIN_ID=$ROS_DOMAIN_ID with MONO_DEPTH_ROS2_WORKERS=$workers: worker N runs in domain" \
      "ROS_DOMAIN_ID + N, past 232; use ROS_DOMAIN_ID <= $((233 - workers)) or fewer workers" >&2
    exit 2
  fi
  workers=$((233 - ROS_DOMAIN_ID))  # the default, not asked for: as many as fit above the user's domain
fi
say "ROS 2 $(ros2 --help > /dev/null 2>&1 && echo ok), python $(python3 -c 'import sys; print(sys.version.split()[0])'), domain $ROS_DOMAIN_ID,"\
  "$workers test worker(s)"

# 2. pip packages beside ROS -------------------------------------------------------------------------------------
ros_numpy="$(python3 -c 'import numpy; print(numpy.__version__)')"
ros_pytest="$(python3 -c 'import pytest; print(pytest.__version__)')"
deps_key="$( (cat "$REPO/setup.py" "$REPO/constraints.txt"; echo "$ros_numpy $ros_pytest v3") | sha256sum | cut -c1-16)"
PYDEPS="$CACHE/ros2-pydeps-$deps_key"
# shellcheck source=scripts/cache_lock.sh
source "$REPO/scripts/cache_lock.sh"
build_pydeps() {
  say "pip packages for ROS's python into $PYDEPS (numpy $ros_numpy stays ROS's)"
  pins="$PYDEPS/.pins.txt"
  # the project's pins, except numpy (ROS's) and pytest (Debian's, which launch_testing's plugin is built for)
  grep -v -E '^(numpy|pytest)==' "$REPO/constraints.txt" > "$pins"
  printf 'numpy==%s\npytest==%s\n' "$ros_numpy" "$ros_pytest" >> "$pins"
  requirements="$(cd "$REPO" && python3 - <<'EOF'
import ast, pathlib
tree = ast.parse(pathlib.Path("setup.py").read_text())
for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == "install_requires":
        print(" ".join(ast.literal_eval(node.value)))
EOF
)"
  # shellcheck disable=SC2086
  # + transformers: the node runs a Hugging Face depth model in one test (test_a_lidar_prompted_transformers_model...)
  python3 -m pip install -q --disable-pip-version-check --target "$PYDEPS" -c "$pins" "$TORCH_PIN" $requirements \
    transformers huggingface_hub
  # pytest-xdist + execnet for step 5's workers: constraints.txt's pins (3.8.0 needs pytest >= 7.0: Debian's is 7.2.1)
  python3 -m pip install -q --disable-pip-version-check --target "$PYDEPS" --no-deps -c "$pins" pytest-timeout \
    pytest-xdist execnet
  # ROS's numpy, and the venv's setuptools for colcon (torch pulls a newer one that would shadow it)
  (cd "$PYDEPS" && rm -rf numpy numpy-*.dist-info numpy.libs bin/f2py* setuptools setuptools-*.dist-info \
    _distutils_hack distutils-precedence.pth pkg_resources yaml PyYAML-*.dist-info _yaml)
}
build_once "$PYDEPS" build_pydeps
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PYDEPS"

# 3. unit tests with ROS's python3, numpy and OpenCV -----------------------------------------------------------
# What the node and `mono-depth bag` execute (the .venv runs them with numpy 2 and OpenCV 5 only), bounded to ~3 min
# on a loaded 2-core machine. Left out: the node's own module tests (test/test_node.py and the like: a stand-in rclpy;
# step 5 runs the real node), network architectures and the export / training / demo commands (torch alone, or
# offline tools); and, for time, test_hf_model.py (37 s; step 5 runs a transformers model in the node),
# test/bag/test_runner.py (60 s; step 5 runs `mono-depth bag` end to end), test_ground's two real-frame sweeps
# (50 s; its other tests run the same filter on real frames), test_registry.py and test_malloc_policy.py (9 s of
# import-graph and allocator checks that use neither numpy nor OpenCV; the .venv's Python is 3.11 too),
# test/test_bag.py, test/commands/test_bag.py and test_nav2.py (20 + 40 + 13 s: step 5 runs `mono-depth bag` and the
# node's outputs live).
UNIT_TESTS=(
  test/core test/adapters test/bag test/test_pipeline.py test/test_config.py test/test_depth_config.py
  test/models/test_preprocess.py test/models/test_inference.py test/models/test_spec.py
  test/models/test_sidecar.py test/models/test_checkpoint.py test/models/test_onnx_model.py
  test/models/test_onnx_binding.py test/models/test_torchscript_model.py test/models/test_depth_source.py
  test/models/test_precision_policy.py test/models/test_hf_preprocessing.py test/models/test_graph_layout.py
  test/evaluation/test_metrics.py test/evaluation/test_scale_rigs.py
  test/test_depth_image_proc_equivalence.py test/test_pipeline_device.py
  --ignore=test/bag/test_runner.py --ignore=test/adapters/test_malloc_policy.py
  --deselect=test/core/scale/test_ground.py::test_real_floor_with_pixel_noise_is_ground_for_a_scale_and_shift_on_nyu_frames
  --deselect=test/core/scale/test_ground.py::test_a_vehicle_close_ahead_is_refused_or_harmless_on_real_kitti_frames_with_their_own_ground
)
unit_mode="${MONO_DEPTH_ROS2_UNIT:-auto}"
case "$unit_mode" in
  auto) [ $# -eq 0 ] && run_unit=1 || run_unit=0 ;;
  1 | only) run_unit=1 ;;
  0) run_unit=0 ;;
  *) echo "ros2 tier: MONO_DEPTH_ROS2_UNIT=$unit_mode: use auto, 1, 0 or only" >&2; exit 2 ;;
esac
unit_failed=""
if [ "$run_unit" = 1 ]; then
  test_packages="hypothesis pillow onnxruntime onnx onnxscript"
  # the same pins, but ml_dtypes (onnx's): constraints.txt's 0.6 needs numpy >= 2, 0.5.4 is the last for numpy 1.x
  test_ml_dtypes="ml_dtypes==0.5.4"
  TESTDEPS="$CACHE/ros2-testdeps-$(echo "$deps_key $test_packages $test_ml_dtypes" | sha256sum | cut -c1-16)"
  build_testdeps() {
    say "test-only pip packages for ROS's python into $TESTDEPS"
    grep -v -E '^ml_dtypes==' "$PYDEPS/.pins.txt" > "$TESTDEPS/.pins.txt"
    echo "$test_ml_dtypes" >> "$TESTDEPS/.pins.txt"
    # the test extras that are not ROS's already (pytest, numpy, OpenCV: Debian's) and the onnx extras, which the
    # ONNX tests export their graphs with; not setup.py's extras as such: they would pull pip's OpenCV 5 and numpy 2
    # shellcheck disable=SC2086
    PYTHONPATH= python3 -m pip install -q --disable-pip-version-check --target "$TESTDEPS" -c "$TESTDEPS/.pins.txt" \
      $test_packages
    (cd "$TESTDEPS" && rm -rf numpy numpy-*.dist-info numpy.libs bin/f2py* setuptools setuptools-*.dist-info \
      _distutils_hack distutils-precedence.pth pkg_resources yaml PyYAML-*.dist-info _yaml)
  }
  build_once "$TESTDEPS" build_testdeps
  # ROS's own Python packages stay off the path: launch_testing's pytest plugin makes every logger made after it a
  # LaunchLogger that does not propagate, so caplog sees nothing (15 tests failed with it); the node's process never
  # imports launch
  unit_path="$REPO:$PYDEPS:$TESTDEPS"
  unit_numpy="$(PYTHONPATH="$unit_path" python3 -c 'import numpy; print(numpy.__version__)')"
  if [ "$unit_numpy" != "$ros_numpy" ]; then
    echo "ros2 tier: the unit tests would run numpy $unit_numpy, not ROS's $ros_numpy: a package in $PYDEPS or" \
      "$TESTDEPS brought its own; remove that folder and rerun" >&2
    exit 1
  fi
  unit_cv="$(PYTHONPATH="$unit_path" python3 -c 'import cv2; print(cv2.__version__)')"
  say "python3 -m pytest (unit tests, numpy $unit_numpy, OpenCV $unit_cv)"
  unit_start=$SECONDS
  unit_args=()
  [ "$unit_mode" = only ] && unit_args=("$@")
  unit_rc=0
  (cd "$REPO" && PYTHONPATH="$unit_path" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" \
    python3 -m pytest -p no:cacheprovider -q "${UNIT_TESTS[@]}" "${unit_args[@]}") || unit_rc=$?
  if [ "$unit_rc" = 0 ]; then
    say "unit tests passed in $((SECONDS - unit_start)) s"
  else
    unit_failed="step 3, the unit tests with ROS's python3 (numpy $unit_numpy, OpenCV $unit_cv; the .venv's make unit"
    unit_failed+=" runs numpy 2 / OpenCV 5), failed (pytest exit $unit_rc, its report above); rerun them alone:"
    unit_failed+=" MONO_DEPTH_ROS2_UNIT=only bash scripts/ros2_tier.sh -x -k 'NAME'"
    echo "ros2 tier: $unit_failed" >&2
    # 1: tests failed; anything else (2: interrupted, 3/4: pytest's own or usage error) stops here
    [ "$unit_rc" = 1 ] && [ "$unit_mode" != only ] || exit "$unit_rc"
    echo "ros2 tier: going on with the colcon build and test/ros2; the tier fails at its end" >&2
  fi
  [ "$unit_mode" = only ] && exit 0
fi

# 4. colcon build in a temporary workspace --------------------------------------------------------------------
WS="$(mktemp -d "${TMPDIR:-/tmp}/mono_depth_ros2_ws.XXXXXX")"
stop_daemons() {
  # each worker's ros2 daemon (`ros2 param` starts one); at the start too: a daemon left in a worker's domain by an
  # interrupted run (its rclpy shut down by the signal) answers every `ros2 param` of this run with '!rclpy.ok()'
  local domain
  for ((domain = ROS_DOMAIN_ID; domain < ROS_DOMAIN_ID + workers; domain++)); do
    ROS_DOMAIN_ID=$domain ros2 daemon stop > /dev/null 2>&1 || true
  done
}
cleanup() {
  local rc=$?
  stop_daemons
  rm -rf "$WS"
  if [ -n "$unit_failed" ]; then
    echo "ros2 tier: FAILED: $unit_failed" >&2
    [ "$rc" = 0 ] && rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
mkdir -p "$WS/src/mono_depth_ros"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
  | tar --null --ignore-failed-read -T - -cf - 2> /dev/null) | tar -xf - -C "$WS/src/mono_depth_ros"
say "colcon build in $WS"
(cd "$WS" && colcon build --merge-install --event-handlers console_direct- > "$WS/colcon_build.log" 2>&1) || {
  cat "$WS/colcon_build.log"
  exit 1
}
set +u
# shellcheck disable=SC1091
source "$WS/install/setup.bash"
set -u
say "built: $(ros2 pkg prefix mono_depth_ros)"

# 5. the tests --------------------------------------------------------------------------------------------------
export MONO_DEPTH_ROS2_WS="$WS"
export MONO_DEPTH_REPO="$REPO"
cd "$REPO"
xdist_args=()
# a crashed worker is not replaced: xdist would start gw<workers> in a domain past the checked, announced ones,
# with a daemon the end does not stop; the crash fails the run, naming the worker and its test
[ "$workers" -gt 1 ] && xdist_args=(-n "$workers" --dist loadfile --max-worker-restart 0)
say "python3 -m pytest test/ros2 (${workers} worker(s), domains $ROS_DOMAIN_ID..$((ROS_DOMAIN_ID + workers - 1)))"
stop_daemons
tests_start=$SECONDS
python3 -m pytest -p no:cacheprovider "${xdist_args[@]}" test/ros2 "$@"
say "test/ros2 passed in $((SECONDS - tests_start)) s"
