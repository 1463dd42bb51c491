# Two entry points: `make render` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= homelab

.PHONY: render check test clean

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
