# Baton's entry points. Needs only python3 (3.11+) on PATH; everything else goes into .venv.
#   make run     server + worker + beat on the embedded defaults (SQLite, embedded Redis)
#   make test    the test suite (on DATABASE_URL / CELERY_BROKER_URL when they are set)
# Extra pytest arguments: make test ARGS="-k decider -x"

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
# Reinstall only when the dependencies change, so every target can depend on `venv` cheaply.
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: venv run test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: venv
	$(VPY) -m conductor_project.launcher

# pytest exits 5 when it collected nothing: say so, and fail, rather than pass silently.
test: venv
	@$(VPY) -m pytest $(ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

# ruff, then the import rules of pyproject.toml's [tool.importlinter] (which way imports may run).
lint: venv
	$(VPY) -m ruff check .
	$(VENV)/bin/lint-imports

# Baton against raw Celery (ARGS go to this one), then REST workers against Celery-native ones.
bench: venv
	$(VPY) -m bench $(ARGS)
	$(VPY) -m bench.rest_workers

# Removes the virtualenv and the local state in .baton/ (SQLite database, broker socket, logs).
clean:
	rm -rf $(VENV) .baton .pytest_cache .ruff_cache .import_linter_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
