# Set-up and the two commands the README promises. Everything installs from the package
# registries with versions pinned in constraints.txt (ranges live in pyproject.toml).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NEEDED_KB := 10000000

.PHONY: demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@avail=$$(df -Pk . | awk 'NR==2 {print $$4}'); if [ "$$avail" -lt $(NEEDED_KB) ]; then \
	  echo "warning: $$((avail / 1048576)) GB free here; .venv needs about 7 GB (PyTorch and its CUDA libraries) and room to unpack: free some disk if the install fails" >&2; fi
	$(BIN)/pip install --quiet --no-cache-dir -c constraints.txt -e '.[test]'
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
