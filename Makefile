# The front door. `make run` and `make test` work from a fresh clone: they build the virtual
# environments from the pinned requirements themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
TOOLS := .venv-tools
BIN := $(VENV)/bin
TBIN := $(TOOLS)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export SAM_CLI_TELEMETRY := 0
PYTEST_ARGS ?=

.PHONY: run up demo test unit integration e2e template-tests lint fmt typecheck cfn-lint build \
        bench deploy connect-link browser clean venv tools status

venv: $(VENV)/.installed
tools: $(TOOLS)/.installed

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

# `python -m tiktok_local` imports the layer, the function packages and the local stack the way
# pytest's `pythonpath` (pyproject.toml) does — no sys.path tricks in the code.
LOCAL_PYTHONPATH := $(subst $(eval) ,:,$(abspath layers/connector functions/oauth \
  functions/segment_ingest functions/audience_upload functions/event_forwarder local .))
run up demo connect-link bench: export PYTHONPATH := $(LOCAL_PYTHONPATH)

## run: set up and run the whole pipeline on the local stack, then print what reached TikTok
run: venv
	$(BIN)/python -m tiktok_local demo

demo: run

## up: serve the local stack until interrupted (writes .local/stack.json)
up: venv
	$(BIN)/python -m tiktok_local up

## test: lint, cfn-lint, sam build and every test tier
test: lint cfn-lint build browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)
integration: venv
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)
e2e: venv browser
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)
template-tests: venv
	$(BIN)/python -m pytest tests/template $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

cfn-lint: tools
	$(TBIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml

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

## connect-link: print a signed, single-use /connect link (deployed or local stack);
##   LINK_ARGS="--label acme --stack-name tiktok-connector" (see docs/oauth.md)
connect-link: venv
	$(BIN)/python -m tiktok_local connect-link $(LINK_ARGS)

## status: jobs of the last day, dead letters, the last hour's events (`tiktok-connector status`);
##   local stack by default, STATUS_ARGS="--stack-name tiktok-connector" for a deployed one
status: venv
	$(BIN)/tiktok-connector status $(STATUS_ARGS)

deploy: build
	$(TBIN)/sam deploy --config-env $${ENV:-default}

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
