# One command each: `make run` (install + the main job on samples/), `make test` (install + the suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: LibreOffice for office files, libmagic for file types, Tesseract and its languages,
# qpdf and poppler-utils to check PDFs we write, chromium for the report and UI tests (headless, never downloaded),
# PostgreSQL and Redis for instance storage and the Celery cluster (`make cluster`).
# Tesseract language packs for the scripts the `auto` engine sends to Tesseract, and the EU's Latin languages.
TESSERACT_LANGUAGES := eng deu fra rus ukr bul ell jpn chi-sim chi-tra kor ara heb hin \
	ces dan nld est fin hun ita lav lit pol por ron slk slv spa swe hrv
APT_PACKAGES := libreoffice-nogui libmagic1 tesseract-ocr $(addprefix tesseract-ocr-,$(TESSERACT_LANGUAGES)) \
	qpdf poppler-utils postgresql redis-server chromium fonts-dejavu-core fonts-lohit-deva

# The paddleocr-pipeline engine's packages, installed without their dependencies: paddlex pins numpy<2.4,
# PyYAML==6.0.2 and opencv-contrib-python==4.10.0.84, and runs on the project's versions (its dependencies are in
# pyproject.toml; `pip check` reports its numpy and PyYAML pins, nothing else). Tested by docproc_tests/engines/test_paddleocr_pipeline.py.
PADDLEOCR := paddleocr==3.7.0 paddlex==3.7.2

.PHONY: install system run test test-fast ui cluster cluster-down bench clean

install: system $(STAMP)

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/pip install -q --no-deps $(PADDLEOCR)
	$(BIN)/python -m compileall -q docproc_assets  # bytecode for every spawned worker, even where the environment forbids writing it (PYTHONDONTWRITEBYTECODE)
	@mkdir -p $(DAGSTER_HOME) && cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true
	touch $(STAMP)

# The main job: the Dagster assets over samples/ with the default CPU engines (ppocr-v6, tesseract where
# available), in process against DAGSTER_HOME, so the runs show in `make ui` afterwards.
run: install
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/docproc batch samples/ --db data/docproc.duckdb --report data/reports/comparison.md
	@echo "results: $(CURDIR)/data/docproc.duckdb (query: $(BIN)/docproc query \"SELECT * FROM model_metrics\")"
	@echo "report:  $(CURDIR)/data/reports/comparison.md; documents: $(CURDIR)/data/outputs/<model>/<document_id>.json"

test: install
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: install
	$(BIN)/pytest -n 2 -m "not slow"

# The UI with the daemon (sensor on, run queue): history in DAGSTER_HOME (.dagster_home); the gpu pool
# gets its slots from DOCPROC_GPU_BUDGET_GIB first.
ui: install
	@mkdir -p data/inbox $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/docproc pools --apply
	$(BIN)/dagster dev -w workspace.yaml

# The same assets on a local cluster of real processes (.cluster/): Redis, Postgres and two
# dagster-celery workers; the main job over samples/ through them, then which worker ran what.
cluster: install
	$(BIN)/docproc cluster up --dir .cluster --workers 2
	$(BIN)/docproc cluster run samples/ --dir .cluster
	@echo "UI: DAGSTER_HOME=$(CURDIR)/.cluster/home $(BIN)/dagster-webserver -w workspace.yaml; stop: make cluster-down"

cluster-down:
	$(BIN)/docproc cluster down --dir .cluster

# Every benchmark on CORPUS into docs/BENCHMARKS.md; BENCH_ARGS= (empty) for the full OCR engine run.
BENCH_ARGS ?= --quick
bench: install
	$(BIN)/python bench/run_all.py $(or $(CORPUS),samples) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache data
