#!/usr/bin/env bash
# Jazzy's Python under the ROS-free core: the unit tests that need no torch, with Python 3.12, numpy 1.26.4 and
# OpenCV 4.6.0 (what Ubuntu 24.04 ships to ROS 2 Jazzy: python3, python3-numpy, python3-opencv).
#
#   bash scripts/jazzy_python_tier.sh [pytest args...]        (make jazzy-python-test; part of make test)
#
# No Jazzy rclpy, launch or DDS here (scripts/ros2_tier.sh runs the node on a real Humble), and no torch: torch for
# Python 3.12 from PyPI is a multi-GB CUDA build. What runs is JAZZY_TESTS below: the message codecs and Jazzy
# typestore, the bag reader / writer, scale recovery, clouds, configuration, the bag command: the modules whose
# imports need no torch.
# Steps:
#   1. find a Python 3.12: $MONO_DEPTH_PY312 (an error if it is not one), else python3.12 on PATH, else pyenv's
#      ($PYENV_ROOT/versions/3.12.*); none: the step is skipped with the reason and exit 0
#      (MONO_DEPTH_REQUIRE_PY312=1 makes that an error);
#   2. a venv with the package's requirements and test packages at constraints.txt's pins, but Jazzy's numpy and
#      OpenCV, cached in $MONO_DEPTH_CACHE (default ~/.cache/mono_depth_ros) as py312-jazzy-<hash of setup.py,
#      constraints.txt, the Jazzy pins and the Python version>, built once under a lock (scripts/cache_lock.sh);
#   3. python -m pytest on JAZZY_TESTS from the working tree (PYTHONPATH; nothing is installed).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MONO_DEPTH_CACHE:-$HOME/.cache/mono_depth_ros}"
# Ubuntu 24.04 (noble): python3-numpy 1:1.26.4, python3-opencv 4.6.0
JAZZY_PINS=(numpy==1.26.4 opencv-python-headless==4.6.0.66)
TEST_PACKAGES=(opencv-python-headless pytest pytest-timeout pytest-xdist hypothesis pillow)

say() { echo "[jazzy-python +${SECONDS}s] $*"; }
skip() {
  if [ "${MONO_DEPTH_REQUIRE_PY312:-0}" = 1 ]; then
    echo "jazzy python tier: cannot run: $*" >&2
    exit 1
  fi
  echo "jazzy python tier: SKIPPED (not an error): $*"
  exit 0
}

# 1. Python 3.12 -------------------------------------------------------------------------------------------------
is_312() { [ "$("$1" -c 'import sys; print(sys.version_info[:2] == (3, 12))' 2> /dev/null)" = True ]; }
PY312=""
if [ -n "${MONO_DEPTH_PY312:-}" ]; then
  # named by hand: a wrong one is an error, not a skip (a typo in CI must not turn the step into a green skip)
  given="$(command -v "$MONO_DEPTH_PY312" || true)"
  if [ -z "$given" ] || [ -d "$given" ]; then
    echo "jazzy python tier: MONO_DEPTH_PY312=$MONO_DEPTH_PY312: no such program; set it to a Python 3.12's" \
      "path, or unset it to search python3.12 on PATH and pyenv's versions" >&2
    exit 1
  fi
  if ! is_312 "$given"; then
    echo "jazzy python tier: MONO_DEPTH_PY312=$MONO_DEPTH_PY312 is no Python 3.12 (it says:" \
      "$("$given" --version 2>&1 | head -c 200 || true)); set it to a Python 3.12's path, or unset it" >&2
    exit 1
  fi
  # absolute: the venv's requirements are read with the repository as the working directory
  PY312="$(cd "$(dirname "$given")" && pwd)/$(basename "$given")"
elif is_312 python3.12; then
  PY312="$(command -v python3.12)"
else
  for candidate in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12 2> /dev/null | sort -V -r); do
    if is_312 "$candidate"; then PY312="$candidate" && break; fi
  done
fi
[ -n "$PY312" ] || skip "no Python 3.12 (python3.12 on PATH, pyenv's, or MONO_DEPTH_PY312=/path/to/python3.12)"
py_version="$("$PY312" -c 'import sys; print(sys.version.split()[0])')"

# 2. the cached venv ---------------------------------------------------------------------------------------------
key="$( (cat "$REPO/setup.py" "$REPO/constraints.txt"; echo "${JAZZY_PINS[*]} ${TEST_PACKAGES[*]} $py_version v1") \
  | sha256sum | cut -c1-16)"
mkdir -p "$CACHE" && CACHE="$(cd "$CACHE" && pwd)"  # absolute: the tests run with the repository as the cwd
VENV="$CACHE/py312-jazzy-$key"
# shellcheck source=scripts/cache_lock.sh
source "$REPO/scripts/cache_lock.sh"
build_venv() {
  say "venv with Python $py_version, ${JAZZY_PINS[*]} into $1"
  "$PY312" -m venv "$1"
  # constraints.txt's pins, but torch (not installed), ml_dtypes (onnx's, not installed) and Jazzy's numpy / OpenCV
  grep -v -E '^(torch|numpy|opencv-python-headless|ml_dtypes)==' "$REPO/constraints.txt" > "$1/pins.txt"
  printf '%s\n' "${JAZZY_PINS[@]}" >> "$1/pins.txt"
  requirements="$(cd "$REPO" && "$PY312" - << 'PYEOF'
import ast, pathlib
tree = ast.parse(pathlib.Path("setup.py").read_text())
for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == "install_requires":
        print(" ".join(ast.literal_eval(node.value)))
PYEOF
)"
  # shellcheck disable=SC2086
  "$1/bin/python" -m pip install -q --disable-pip-version-check -c "$1/pins.txt" $requirements "${TEST_PACKAGES[@]}"
}
build_once "$VENV" build_venv
PY="$VENV/bin/python"
versions="$("$PY" -c 'import numpy, cv2; print(f"numpy {numpy.__version__}, OpenCV {cv2.__version__}")')"

# 3. the tests ---------------------------------------------------------------------------------------------------
# What imports without torch, bounded to ~2 min on a loaded 2-core machine. Left out: modules that import torch
# (network architectures, training, export, the demo's run, the torch post-processing), the tests of other modules
# that need torch (deselected below, each a model or the torch post-processing), and for time test/bag/test_runner.py
# (30 s) and test/commands/test_bag.py (20 s; test/test_bag.py runs `mono-depth bag` end to end).
JAZZY_TESTS=(
  test/adapters test/bag test/core test/demo test/test_node.py test/test_pipeline.py test/test_bag.py
  test/test_config.py test/test_depth_config.py test/test_depth_image_proc_equivalence.py test/test_launch.py
  test/test_lifecycle_node.py test/test_nav2.py test/test_nav2_costmap.py test/test_cli_extras.py
  test/test_package_layout.py test/evaluation/test_metrics.py test/evaluation/test_scale.py
  test/evaluation/test_scale_protocol.py test/evaluation/test_scale_rigs.py test/evaluation/test_scale_sequence.py
  test/evaluation/test_temporal.py test/training/trainer/test_log.py
  --ignore=test/bag/test_runner.py --ignore=test/core/test_cloud_outliers_torch.py --ignore=test/core/test_cloud_torch.py
  --ignore=test/core/test_edges_torch.py --ignore=test/core/test_postprocess_torch.py
  --ignore=test/core/test_temporal_filter.py --ignore=test/core/scale/test_motion.py --ignore=test/demo/test_kitti.py
  --ignore=test/demo/test_run.py
  --deselect=test/adapters/test_malloc_policy.py::test_a_frames_freed_buffers_are_not_faulted_in_again_every_frame_and_the_output_is_the_same
  --deselect=test/bag/test_integrity.py::test_a_cut_inside_an_mcap_chunk_gives_back_the_frames_whole_before_it
  --deselect=test/core/scale/test_extrinsic_check.py::test_a_lidar_turned_a_quarter_about_its_spin_axis_is_named_from_the_prediction
  --deselect=test/core/scale/test_extrinsic_check.py::test_a_planar_lidar_turned_a_quarter_is_flagged_without_naming_a_turn_it_cannot_tell
  --deselect=test/core/scale/test_extrinsic_check.py::test_a_prediction_that_agrees_with_nothing_names_no_yaw
  --deselect=test/core/scale/test_extrinsic_check.py::test_kitti_calibration_with_the_prediction_is_not_flagged
  --deselect=test/core/scale/test_fit.py::test_the_scale_fit_on_4096_pairs_keeps_the_shipped_models_scale_and_absrel_on_kitti_and_the_synthetic_drive
  --deselect=test/core/scale/test_ground.py::test_a_vehicle_close_ahead_is_refused_or_harmless_on_real_kitti_frames_with_their_own_ground
  --deselect=test/core/scale/test_ground.py::test_real_floor_with_pixel_noise_is_ground_for_a_scale_and_shift_on_nyu_frames
  --deselect=test/core/test_cloud.py::test_real_ground_truth_clouds_reproject_onto_their_own_pixels_with_opencv
  --deselect=test/core/test_edges.py::test_a_window_grid_gives_each_pixel_the_mark_of_the_value_it_carries
  --deselect=test/core/test_edges.py::test_flying_pixels_are_found_and_grazing_surfaces_kept
  --deselect=test/core/test_edges.py::test_marks_go_back_to_the_pixels_that_carry_the_marked_value
  --deselect=test/core/test_edges.py::test_the_mask_is_the_full_size_shifted_test_bit_for_bit
  --deselect=test/evaluation/test_metrics.py::test_kitti_depth_selection_scores_as_the_kitti_devkit
  --deselect=test/evaluation/test_metrics.py::test_kitti_devkit_clips_predictions_to_the_smallest_depth_its_png_holds
  --deselect=test/evaluation/test_metrics.py::test_kitti_devkit_silog_irmse_and_the_mean_over_images_on_real_ground_truth
  --deselect=test/evaluation/test_metrics.py::test_kitti_eigen_crop_is_bts_and_marigolds
  --deselect=test/evaluation/test_metrics.py::test_sparse_png_ground_truth_reads_as_monodepth2_and_bts_read_it
  --deselect=test/test_bag.py::test_corrupt_bag_and_wrong_weights_exit_2_without_traceback
  --deselect=test/test_bag.py::test_network_backend_with_lidar
  --deselect=test/test_node.py::test_the_first_frames_after_activate_import_no_module
  --deselect=test/test_node.py::test_the_node_holds_lidar_max_age_s_and_wait_s_in_the_bag_runners_nanoseconds
  --deselect=test/test_node.py::test_the_shipped_metric_model_on_a_camera_unlike_its_training_camera_is_warned_once
  --deselect=test/test_node.py::test_the_training_camera_warning_on_a_camera_info_without_a_size_takes_the_images_size
  --deselect=test/test_pipeline.py::test_a_flying_pixel_the_upsampling_carries_onto_a_tie_column_is_removed
  --deselect=test/test_pipeline.py::test_auto_downscale_keeps_the_accuracy_on_real_kitti_at_a_ninth_of_the_pixels
  --deselect=test/test_pipeline.py::test_network_speckles_upsampled_to_the_published_size_are_removed
  --deselect=test/test_pipeline.py::test_stamps_going_back_over_a_second_restart_the_temporal_filter_as_the_scale
  --deselect=test/test_pipeline.py::test_temporal_filter_stage_runs_after_scale_and_reports_its_state
  --deselect=test/test_pipeline.py::test_temporal_settings_change_at_run_time_keeping_the_history
  --deselect=test/test_pipeline.py::test_the_sources_roles_are_checked_once_not_every_frame
  --deselect=test/test_pipeline.py::test_time_went_back_forgets_the_scale_and_the_temporal_history
  --deselect=test/test_pipeline.py::test_zoedepths_flying_pixels_are_removed_where_the_published_map_carries_them
)
say "python $py_version -m pytest ($versions; no torch, no rclpy)"
cd "$REPO"
PYTHONPATH="$REPO" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$PY" -m pytest -p no:cacheprovider -q "${JAZZY_TESTS[@]}" "$@"
