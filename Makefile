# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_ENV := instance/dev.env
CATALOG := app/translations/vi/LC_MESSAGES/messages.mo
# Tests run on SQLite and on PostgreSQL; set TEST_DATABASE_URL= (empty) to run SQLite only.
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
export TEST_DATABASE_URL

.PHONY: install run test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) $(CATALOG)

# The Vietnamese catalog, compiled whenever its .po changes (the .mo is not committed).
$(CATALOG): $(CATALOG:.mo=.po) | $(STAMP)
	$(BIN)/pybabel compile --statistics -d app/translations

# Development secrets, made once. To start over, delete the whole instance/ folder: a database
# and photos made under old keys do not open or verify under new ones.
$(DEV_ENV): | $(STAMP)
	PYTHON=$(BIN)/python sh scripts/make-dev-env.sh $@

# Migrate, add the demo hamlet if missing, print its logins, serve on http://127.0.0.1:8000.
run: $(STAMP) $(CATALOG) $(DEV_ENV)
	@set -a && . ./$(DEV_ENV) && set +a && \
	$(BIN)/flask --app wsgi db upgrade && \
	$(BIN)/flask --app wsgi seed-demo && \
	echo && echo "Serving Gốc on $${PUBLIC_BASE_URL:-http://127.0.0.1:8000}/auth/login (Ctrl-C stops it)" && \
	GUNICORN_WORKERS=$${GUNICORN_WORKERS:-2} exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check ledger app storefront tests bench
	$(BIN)/mypy

test: lint $(CATALOG)
	$(BIN)/pytest -n 2 --dist loadgroup --durations=15

bench: $(STAMP)
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
