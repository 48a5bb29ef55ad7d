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

# django-helpdesk, the ingest baseline, lives in its own virtualenv (its own Django).
HELPDESK_VENV := bench/.venv-helpdesk
HELPDESK_PYTHON := $(or $(shell ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.12*/bin/python3 2>/dev/null | sort -rV | head -1),$(PYTHON))
BENCH_CORPUS := var/bench-corpus

$(HELPDESK_VENV)/.installed: bench/requirements-helpdesk.txt
	test -x $(HELPDESK_VENV)/bin/python || $(HELPDESK_PYTHON) -m venv $(HELPDESK_VENV)
	$(HELPDESK_VENV)/bin/python -m pip install --quiet -r bench/requirements-helpdesk.txt
	touch $@

bench: $(STAMP) $(HELPDESK_VENV)/.installed
	$(BIN)/python bench/make_corpus.py $(BENCH_CORPUS) --count 1000
	$(BIN)/python bench/ingest.py $(BENCH_CORPUS) --helpdesk-python $(HELPDESK_VENV)/bin/python
	$(BIN)/python bench/smtp_load.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
