# One-command set-up: `make demo` runs the main job, `make test` runs the test suite.
# Both create the project virtual environment (.venv) from the package registries when needed.

PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed
LAUNCH_STAMP := $(VENV)/.launch-installed
BIN := $(VENV)/bin
# ROS 2 launch wheels built from the public sources (not on the registries): see their README.
LAUNCH_WHEELS ?= ../shared/vendor/ros2_launch/wheels
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv demo test bench lint clean

venv: $(STAMP)

$(STAMP): requirements/core.txt requirements/ros-wheels.txt requirements/dev.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# test-only: the launch tests run localize.launch.py through the real launch system
$(LAUNCH_STAMP): $(STAMP) requirements/ros-launch.txt
	$(BIN)/python -m pip install --quiet --no-index --no-deps --find-links $(LAUNCH_WHEELS) \
		-r requirements/ros-launch.txt
	touch $@

demo: $(STAMP)
	$(BIN)/spikevim demo $(DEMO_ARGS)

test: $(LAUNCH_STAMP)
	scripts/netns_run.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build install log
