# Everything a fresh machine needs: `make demo` and `make test` create .venv and install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo admin test lint format bench worker recover stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The port `make admin` serves on (`make admin PORT=8001`); the demo prints its URLs with it.
PORT ?= 8000

# --check-database: one line (with the createdb command) instead of migrate's traceback.
demo: install
	@$(BIN)/python -m settings.demo --check-database
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py check --fail-level ERROR
	PORT=$(PORT) $(BIN)/python -m settings.demo

# The admin of the example project, with a demo superuser (demo / demo), on 127.0.0.1 only.
admin: install
	@$(BIN)/python -m settings.demo --check-database
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py shell -c "from django.contrib.auth.models import User; \
	  User.objects.filter(username='demo').exists() or \
	  User.objects.create_superuser('demo', 'demo@example.org', 'demo')"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Debian's chromium for the admin's browser test (Playwright drives it; it downloads nothing).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is missing and cannot be installed here: the browser test will be skipped"; \
	  fi; }

# mypy's files (both apps and the example settings) and plugin are in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python bench/bench_fire.py
	$(BIN)/python bench/bench_rq.py
	$(BIN)/python bench/bench_pushitems.py
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_gather.py
	$(BIN)/python bench/bench_recorder_memory.py

# One RQ worker (with RQ's scheduler, for retries) on the embedded Redis, or REDIS_URL's.
worker: install
	$(BIN)/python manage.py rqworker --with-scheduler default low

recover: install
	$(BIN)/python manage.py triggers_recover

# Stop the embedded Redis server that the example project starts under var/.
stop:
	test ! -x $(BIN)/python || $(BIN)/python settings/embedded_redis.py stop

clean: stop
	rm -rf $(VENV) var
