# Two entry points: `make render` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= homelab

.PHONY: render check test bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Render the stack offline (build/$(STACK)) and run the policy checks on it.
render: $(VENV)/.installed
	$(PY) -m llmd_stack check --stack $(STACK)

test: $(VENV)/.installed
	$(PY) -m pytest -q

clean:
	rm -rf build $(VENV)

# Render cost and deployment critical path: build/bench/report.md and render-time.png (not part of `make test`).
bench: $(VENV)/.installed
	$(PY) -m bench
