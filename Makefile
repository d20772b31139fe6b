# The two commands a newcomer needs: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PY := .venv/bin/python
SYSTEM_PY := $(shell command -v python3)

.DEFAULT_GOAL := help
.PHONY: help install run down logs status demo test test-fast bench chaos token account lint fmt analytics-rebuild kafka-up kafka-down pg-up pg-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: .venv/.installed ## install the workspace from the lock file (uv)

.venv/.installed: pyproject.toml uv.lock scripts/install.sh
	@scripts/install.sh

run: install ## start Kafka, migrations, the four services and the workbench (:8000); DB=postgres for PostgreSQL
	@$(PY) scripts/stack.py up $(if $(DB),--db $(DB))

down: ## stop everything `make run` started
	@$(if $(wildcard $(PY)),$(PY),$(SYSTEM_PY)) scripts/stack.py down

logs: ## follow the logs of everything `make run` started
	@$(PY) scripts/stack.py logs

status: ## what is running
	@$(PY) scripts/stack.py status

demo: install ## seed a call centre and walk complaints through their lives (starts the system if needed)
	@$(PY) scripts/demo.py $(ARGS)

test: install ## lint and run every test on a real Kafka, PostgreSQL and object store started for the run; ARGS="-k x" narrows it
	@scripts/test.sh $(ARGS)

test-fast: install ## the tests that need neither Kafka nor PostgreSQL nor the object store, nothing started: for the edit-test loop
	@$(PY) -m pytest -q -m "not postgres and not kafka and not objectstore and not chaos" $(ARGS)

bench: install ## run the benchmarks and print their figures
	@scripts/bench.sh $(ARGS)

chaos: install ## the long fault-injection run: kill -9 the broker and every process under load, count losses
	@$(PY) -m tests.chaos.harness --long $(ARGS)

token: install ## print a new bearer token for someone in the directory (ROLE=admin: the first administrator): make token ROLE=agent STAFF=A001 [DEPARTMENT=billing] [ARGS="--expires-days 30"]
	@if [ -z "$(ROLE)" ] || [ -z "$(STAFF)" ]; then \
	  echo "usage: make token ROLE=<agent|duty_manager|supervisor|department|qa|admin|viewer> STAFF=<id> [DEPARTMENT=<id>]" >&2; exit 2; fi
	@$(PY) scripts/stack.py token --role "$(ROLE)" --staff "$(STAFF)" $(if $(DEPARTMENT),--department "$(DEPARTMENT)") $(ARGS)

account: install ## a workbench sign-in account with a new password (last line): make account STAFF=AD01
	@if [ -z "$(STAFF)" ]; then echo "usage: make account STAFF=<staff id in the directory>" >&2; exit 2; fi
	@$(PY) scripts/stack.py account --staff "$(STAFF)"

lint: install ## ruff check, format check and the type checker (what CI checks)
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

fmt: install ## format and fix what ruff can
	@.venv/bin/ruff format . && .venv/bin/ruff check --fix .

analytics-rebuild: install ## rebuild analytics' read models from the topics: ARGS="--compare" or "--swap"
	@$(PY) -m services.analytics.rebuild $(ARGS)

kafka-up: install ## start only the local Kafka broker (STACK=dev|test|bench|chaos; KAFKA_SECURE=1 adds SASL_SSL)
	@scripts/kafka.sh start
kafka-down: ## stop the local Kafka broker
	@scripts/kafka.sh stop
pg-up: ## start only the local PostgreSQL (STACK=dev|test|bench|chaos)
	@scripts/postgres.sh start
pg-down: ## stop the local PostgreSQL
	@scripts/postgres.sh stop

clean: down ## stop everything and delete local data (.run) and the virtualenv
	@for s in dev test bench; do STACK=$$s scripts/postgres.sh reset 2>/dev/null || true; STACK=$$s scripts/kafka.sh reset 2>/dev/null || true; done
	rm -rf .run .venv
