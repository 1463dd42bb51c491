# Two entry points: `make render` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= homelab

.PHONY: render check charts policy test bench clean

# Supported: Python 3.10 to 3.13 (CI runs 3.11).
PYTHON_CHECK := import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

# What `make render` needs. A missing stamp means no install or a failed one: the venv is rebuilt from scratch.
$(VENV)/.render-installed: requirements.txt requirements-render.txt
	@$(PYTHON) -c '$(PYTHON_CHECK)' 2>/dev/null || { echo "error: '$(PYTHON)' is not Python 3.10 to 3.13 ($$($(PYTHON) --version 2>&1)); install one and run e.g. make $(MAKECMDGOALS) PYTHON=python3.12"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements-render.txt
	touch $@

# Everything, tests included (`make test`, CI, the workflows).
$(VENV)/.installed: $(VENV)/.render-installed requirements-dev.txt requirements-bench.txt
	$(PIP) -r requirements-dev.txt
	touch $@

# Fetch the pinned charts and remote YAML files into the chart cache (LLMD_CHART_CACHE, else
# ~/.cache/llmd-homelab/charts). `charts pull` exits 1 only when a fetch failed: that is a warning (the render then
# names what is missing); any other failure (2: an invalid stack file, a chart the lock does not pin) stops make.
FETCH_WARNING = status=$$?; if [ $$status -eq 1 ]; then echo "warning: some charts could not be fetched (see above)"; \
	elif [ $$status -ne 0 ]; then exit $$status; fi
charts: $(VENV)/.render-installed
	$(PY) -m llmd_stack charts pull; $(FETCH_WARNING)

# Render the stack offline (build/$(STACK)), charts included, and run the policy checks on it.
render: charts
	$(PY) -m llmd_stack check --stack $(STACK)

check: render

# With LLMD_CHART_CACHE set (CI: the shared chart mirror) nothing is fetched; else every chart version the tests
# render is pulled first.
test: $(VENV)/.installed
	$(if $(LLMD_CHART_CACHE),,$(PY) -m llmd_stack charts pull --all; $(FETCH_WARNING))
	$(PY) -m pytest -q

# The policy pack's own virtualenv (policies/PulumiPolicy.yaml: virtualenv venv), for `pulumi preview --policy-pack
# policies`. Same rules as a failed install above: a missing stamp rebuilds it.
POLICY_VENV := policies/venv
policy: $(POLICY_VENV)/.installed
$(POLICY_VENV)/.installed: policies/requirements.txt
	@$(PYTHON) -c '$(PYTHON_CHECK)' 2>/dev/null || { echo "error: '$(PYTHON)' is not Python 3.10 to 3.13; run e.g. make policy PYTHON=python3.12"; exit 1; }
	rm -rf $(POLICY_VENV)
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r policies/requirements.txt
	touch $@

clean:
	rm -rf build $(VENV) $(POLICY_VENV)

# Render cost and deployment critical path: prints the headline figures, writes build/bench/report.md and
# render-time.png (not part of `make test`). The plot needs matplotlib, so Python >= 3.11.
bench: $(VENV)/.installed $(if $(LLMD_CHART_CACHE),,charts)
	@$(PY) -c 'import matplotlib' 2>/dev/null || { echo "error: make bench plots with matplotlib 3.11, which needs Python >= 3.11: make clean bench PYTHON=python3.11"; exit 1; }
	$(PY) -m bench
