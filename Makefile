# Two commands are all the set-up on a fresh Debian/Ubuntu machine with Python 3.10+:
#   make demo   create .venv if missing, install, run the embedded default end to end
#   make test   create .venv if missing, install the test extras, lint, type-check, run the test suite, then the
#               real-ROS 2 tier (scripts/ros2_tier.sh: ../shared/ros2 Humble, the node's and bag runner's unit
#               tests with ROS's python3 / numpy / OpenCV, colcon build, ros2 launch tests; skipped with the reason
#               where the runtime cannot be installed), after the Jazzy-Python step
#               (scripts/jazzy_python_tier.sh: the torch-free unit tests with Python 3.12, numpy 1.26, OpenCV 4.6, as
#               Ubuntu 24.04 ships them to ROS 2 Jazzy; skipped with the reason where no python3.12 is found)
# torch is pinned first and passed as a constraint to every later pip call, so that nothing pulls
# another (multi-GB CUDA) torch. Set TORCH_INDEX="--index-url <url>" to choose a torch wheel index.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_INDEX ?=
STAMP_TEST := $(VENV)/.installed-test
STAMP_DEMO := $(VENV)/.installed-demo
DEMO_OUT ?= out/demo
# make unit runs the suite on this many pytest-xdist workers, each with one torch thread (test/conftest.py); 0: in
# one process. A number, not `auto`: in a container with a CPU quota, auto counts the host's cores.
UNIT_WORKERS ?= 2

.PHONY: demo test lint typecheck unit jazzy-python-test ros2-test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP_DEMO): $(PY) setup.py constraints.txt
	$(PIP) install -q $(TORCH_INDEX) torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[cv]'
	touch $@

$(STAMP_TEST): $(PY) setup.py constraints.txt
	$(PIP) install -q $(TORCH_INDEX) torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[test,onnx,hf]'
	touch $@ $(STAMP_DEMO)

demo: $(STAMP_DEMO)
	$(VENV)/bin/mono-depth demo --out $(DEMO_OUT)

lint: $(STAMP_TEST)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP_TEST)
	$(PY) -m mypy

unit: $(STAMP_TEST)
	$(PY) -m pytest -n $(UNIT_WORKERS)

jazzy-python-test:
	bash scripts/jazzy_python_tier.sh -n $(UNIT_WORKERS)

ros2-test:
	bash scripts/ros2_tier.sh

test: lint typecheck unit jazzy-python-test ros2-test

bench: $(STAMP_TEST)
	$(PY) -m bench

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
