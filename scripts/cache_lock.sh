# shellcheck shell=bash
# build_once DIR FUNCTION: FUNCTION fills the empty folder DIR (its argument) unless DIR/.complete says a run did
# already; sourced by scripts/ros2_tier.sh for its pip caches (~/.cache/mono_depth_ros/ros2-pydeps-*,
# ros2-testdeps-*) and by scripts/jazzy_python_tier.sh for its venv (py312-jazzy-*). Two runs at once (two first
# runs of the tier) hold the lock DIR.lock (flock) in turn: the second
# waits, then finds the first's DIR/.complete and builds nothing. Without it both emptied and filled one folder at
# once (rm -rf under the other's pip install). A FUNCTION that fails leaves no .complete (the lock goes with the process or its descriptor): the next run builds
# anew.
build_once() {
  local dir="$1" builder="$2" lock_fd
  mkdir -p "$(dirname "$dir")"
  exec {lock_fd}> "$dir.lock"
  flock "$lock_fd"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    "$builder" "$dir"  # not in a condition: under set -e (the tier) a failing command in it ends the run
    local built=$?
    [ "$built" = 0 ] || return "$built"
    touch "$dir/.complete"
  fi
  exec {lock_fd}>&-
}
