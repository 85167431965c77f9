# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test messages lint typecheck pytest worker beat up bench setup model clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed messages
	@mkdir -p var
	@$(MAKE) --no-print-directory model || echo "no embedding model: the keyless help-center search stays lexical"
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_demo --host $(HOST) --port $(PORT)

run: setup
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload

test: $(VENV)/.installed messages lint typecheck pytest

# The local sentence-embedding model for the keyless help-center search (~90 MB, into
# var/models/; docs/help-center.md). Does nothing when it is there.
model: $(VENV)/.installed
	$(PY) manage.py fetch_embedding_model

# The chat's translations (es, fr, de): .po compiled to .mo with GNU gettext's msgfmt
# (apt-get install gettext). The .mo files are committed too, so without msgfmt the
# shipped ones are used; apps/chat/tests/test_languages.py checks they match the .po files.
messages: $(VENV)/.installed
	@command -v msgfmt >/dev/null 2>&1 || { echo "msgfmt not found (apt-get install gettext): using the committed .mo files"; exit 0; }; \
	$(PY) manage.py compilemessages --ignore=.venv --verbosity 0

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy .

pytest: $(VENV)/.installed
	$(VENV)/bin/pytest

# Real workers need REDIS_URL (the broker).
worker: $(VENV)/.installed
	$(VENV)/bin/celery -A supportbot worker --loglevel=info

beat: $(VENV)/.installed
	$(VENV)/bin/celery -A supportbot beat --loglevel=info --schedule var/celerybeat-schedule

# Daphne, a worker and beat together; needs REDIS_URL. Ctrl-C stops all three.
up: setup
	@test -n "$$REDIS_URL" || { echo "make up needs REDIS_URL (the Celery broker); use make run without it"; exit 2; }
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A supportbot worker --loglevel=info & \
	$(VENV)/bin/celery -A supportbot beat --loglevel=info --schedule var/celerybeat-schedule & \
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) supportbot.asgi:application

bench: $(VENV)/.installed
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
