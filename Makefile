# The front door. `make run` and `make test` work from a fresh clone: they build the virtual
# environments from the pinned requirements themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
TOOLS := .venv-tools
SCAN := .venv-scan
AWSCLI := .venv-aws
BIN := $(VENV)/bin
TBIN := $(TOOLS)/bin
SBIN := $(SCAN)/bin
# template.yaml rendered per parameter set (tests/template/variants.py), for checkov and cfn-lint.
VARIANTS := .aws-sam/variants
export PATH := $(abspath $(BIN)):$(PATH)
export SAM_CLI_TELEMETRY := 0
PYTEST_ARGS ?=

.PHONY: run up demo test unit integration e2e template-tests lint fmt typecheck cfn-lint build \
        bench deploy connect-link browser clean venv tools scanner variants scan \
        help env reports reliability awscli status

venv: $(VENV)/.installed
tools: $(TOOLS)/.installed
scanner: $(SCAN)/.installed

## help: list the targets (this text)
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## awscli: the aws CLI for the local walkthrough, in .venv-aws (make up installs it)
awscli: $(AWSCLI)/.installed

# The project itself goes in editable and without dependencies (they are the pinned ones above):
# that puts the `tiktok-connector` command in $(BIN).
$(VENV)/.installed: requirements/dev.txt layers/connector/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# SAM CLI and cfn-lint pin their own boto3/pydantic; they live in a venv of their own.
$(TOOLS)/.installed: requirements/tools.txt
	test -x $(TBIN)/python || $(PYTHON) -m venv $(TOOLS)
	$(TBIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/tools.txt
	touch $@

# checkov pins other versions of packages the tools venv also holds (networkx, packaging, ...).
$(SCAN)/.installed: requirements/scan.txt
	test -x $(SBIN)/python || $(PYTHON) -m venv $(SCAN)
	$(SBIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/scan.txt
	touch $@

# awscli pins PyYAML/docutils/rsa of its own: a venv apart from .venv-tools (SAM CLI's pins).
$(AWSCLI)/.installed: requirements/awscli.txt
	test -x $(AWSCLI)/bin/python || $(PYTHON) -m venv $(AWSCLI)
	$(AWSCLI)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/awscli.txt
	touch $@

# `python -m tiktok_local` imports the layer, the function packages and the local stack the way
# pytest's `pythonpath` (pyproject.toml) does — no sys.path tricks in the code.
LOCAL_PYTHONPATH := $(subst $(eval) ,:,$(abspath layers/connector functions/oauth \
  functions/segment_ingest functions/audience_upload functions/event_forwarder local .))
run up demo connect-link env reports bench: export PYTHONPATH := $(LOCAL_PYTHONPATH)

## run: set up and run the whole pipeline on the local stack, then print what reached TikTok
run: venv
	$(BIN)/python -m tiktok_local demo

demo: run

## up: serve the local stack until Ctrl-C: one line per invocation and job here, function logs
##   in .local/logs/functions.log, names in .local/stack.json (also installs the aws CLI)
up: venv awscli
	$(BIN)/python -m tiktok_local up

## env: export lines for a shell beside make up: eval "$(make -s env)"
env: venv
	@$(BIN)/python -m tiktok_local env

## reports: download job reports and rejects into .local/reports/ (JOB=<id or prefix>: one job)
reports: venv
	@$(BIN)/python -m tiktok_local reports $(JOB)

## test: lint, cfn-lint, sam build and every test tier (the quicker targets below run one part)
test: lint cfn-lint build browser awscli
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## unit / integration / e2e / reliability / template-tests: one test tier (PYTEST_ARGS="-x -q")
## lint / fmt / cfn-lint: ruff and mypy; ruff format and fix; cfn-lint on template.yaml
unit: venv
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)
integration: venv
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)
e2e: venv browser awscli
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)
reliability: venv
	$(BIN)/python -m pytest tests/reliability $(PYTEST_ARGS)
template-tests: venv
	$(BIN)/python -m pytest tests/template $(PYTEST_ARGS)

lint: venv scan
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

variants: venv
	$(BIN)/python -m tests.template.variants $(VARIANTS) >/dev/null

## scan: checkov on template.yaml as written and as deployed without / with KmsKeyArn; fails on
##   any failed check that the template neither fixes nor skips with a reason (docs/reliability.md)
CHECKOV = $(SBIN)/checkov --framework cloudformation --compact --quiet --skip-download
scan: scanner variants
	$(CHECKOV) -f template.yaml
	$(CHECKOV) -f $(VARIANTS)/default.yaml
	$(CHECKOV) -f $(VARIANTS)/kms.yaml

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

cfn-lint: tools variants
	$(TBIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml \
	  $(VARIANTS)/default.yaml $(VARIANTS)/kms.yaml

## build: sam build without Docker (the venv's python3.11 matches the runtime)
build: tools venv
	$(TBIN)/sam build --template-file template.yaml --build-dir .aws-sam/build --cached --parallel >/dev/null \
	  || $(TBIN)/sam build --template-file template.yaml --build-dir .aws-sam/build

## browser: Debian's chromium and chromedriver for the OAuth end-to-end test
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install chromium; the browser test will fail"; \
	fi

## bench: the DESIGN §6 figures (BENCH_ARGS=--quick for a short run)
bench: venv
	$(BIN)/python -m bench $(BENCH_ARGS)

## connect-link: print a signed, single-use /connect link for the stack of make up, or a deployed
##   one: LINK_ARGS="--label acme --stack-name tiktok-connector --region eu-west-1" (docs/oauth.md)
connect-link: venv
	$(BIN)/python -m tiktok_local connect-link $(LINK_ARGS)

## status: jobs of the last day, dead letters, the last hour's events (`tiktok-connector status`);
##   local stack by default, STATUS_ARGS="--stack-name tiktok-connector" for a deployed one
status: venv
	$(BIN)/tiktok-connector status $(STATUS_ARGS)

## deploy: sam build && sam deploy (ENV=prod: samconfig.toml's prod)
deploy: build
	$(TBIN)/sam deploy --config-env $${ENV:-default}

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache .venv-scan .venv-aws
