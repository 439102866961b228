# The two commands a newcomer needs: `make run` and `make test`. Everything else is here too.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: install up down status run test test-fast lint fmt clean bench-domain bench-postgres bench-search \
	bench-tick bench-inbox mutate compose-smoke

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[dev]"
	@touch $@

install: $(INSTALLED)  ## virtual environment with the project and its dev tools

up:  ## start PostgreSQL and the OpenSearch node (idempotent)
	@ops/services.sh up

down:  ## stop what `make up` started
	@ops/services.sh down

status:  ## are the services running?
	@ops/services.sh status

run: install up  ## services up, then Dagster on 127.0.0.1:3000 with the schedule running
	@ops/run.sh

test: install  ## lint, dg check defs, the whole suite against real services (started and stopped here)
	@ops/test.sh

test-fast: install  ## every test that needs no service (no `make up`), in seconds
	.venv/bin/pytest -q -m "not services" --ignore=carpark_dagster_tests/integration

bench-domain: install  ## simulation, sessionisation and pricing throughput
	source ops/env.sh && $(VENV)/bin/python bench/bench_domain.py

bench-postgres: install up  ## tick merge speed, history independence, incremental reads
	source ops/env.sh && $(VENV)/bin/python bench/bench_postgres.py

bench-search: install up  ## search sync documents/s at 100k and 1M sessions vs the raw bulk limit
	source ops/env.sh && $(VENV)/bin/python bench/bench_search.py

mutate: install  ## mutation testing of the domain rules (slow; not in CI); see docs/testing.md
	$(VENV)/bin/mutmut run; $(VENV)/bin/mutmut results

bench-inbox: install  ## rows/s and peak memory reading 1 GB gate-event files (CSV, JSON Lines)
	source ops/env.sh && $(VENV)/bin/python bench/bench_inbox.py

bench-tick: install up  ## the whole tick through Dagster at ~10k sessions a tick, vs the lab's method
	source ops/env.sh && $(VENV)/bin/python bench/bench_tick.py

compose-smoke:  ## the Docker Compose stack end to end (needs a Docker engine: not on the dev machines or CI)
	@ops/compose-smoke.sh $(if $(PROFILE),--profile $(PROFILE))

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: down  ## stop the services and delete their data
	rm -rf .state
