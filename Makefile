# Set-up and the two commands the README promises. Everything installs from the package
# registries with versions pinned in constraints.txt (ranges live in pyproject.toml).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/initsearch study start studies/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check initsearch tests

test: $(STAMP) lint
	bash scripts/install-system-deps
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info
