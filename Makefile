# Two commands for a fresh machine: `make run` and `make test`.
PYTHON := $(shell ./scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean messages

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/postdesk run

# The suite runs on SQLite, then once more on PostgreSQL when POSTDESK_TEST_DATABASE_URL is
# set. pytest's exit code 5 (nothing collected) is not a failure here.
test: $(STAMP)
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; [ $$rc -eq 5 ] && rc=0; \
	if [ $$rc -eq 0 ] && [ -n "$$POSTDESK_TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL =="; \
		POSTDESK_DATABASE_URL="$$POSTDESK_TEST_DATABASE_URL" $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
		[ $$rc -eq 5 ] && rc=0; \
	fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy postdesk

bench: $(STAMP)
	$(BIN)/python bench/smtp_load.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
