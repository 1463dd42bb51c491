# Two entry points: `make render` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= homelab

.PHONY: render check charts test bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Fetch the pinned charts and remote YAML files into the chart cache (LLMD_CHART_CACHE, else
# ~/.cache/llmd-homelab/charts). A chart that cannot be fetched is rendered as an opaque Chart, with a warning.
charts: $(VENV)/.installed
	$(PY) -m llmd_stack charts pull || echo "warning: some charts could not be fetched (see above); they render as opaque Charts"

# Render the stack offline (build/$(STACK)), charts included, and run the policy checks on it.
render: charts
	$(PY) -m llmd_stack check --stack $(STACK)

check: render

# With LLMD_CHART_CACHE set (CI: the shared chart mirror) nothing is fetched; else every chart version the tests
# render is pulled first.
test: $(VENV)/.installed
	$(if $(LLMD_CHART_CACHE),,$(PY) -m llmd_stack charts pull --all || echo "warning: some charts could not be fetched")
	$(PY) -m pytest -q

clean:
	rm -rf build $(VENV)

# Render cost and deployment critical path: build/bench/report.md and render-time.png (not part of `make test`).
bench: $(VENV)/.installed $(if $(LLMD_CHART_CACHE),,charts)
	$(PY) -m bench
