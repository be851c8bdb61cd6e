# Two entry points for a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# One TensorFlow distribution: the CPU-only wheel where it exists, the standard one elsewhere.
TF_EXTRA ?= $(if $(filter Linux-x86_64,$(shell uname -s)-$(shell uname -m)),tensorflow-cpu,tensorflow)

.PHONY: install plotly-basic demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(TF_EXTRA),test]'
	-@$(MAKE) --no-print-directory plotly-basic
	touch $@

## Optional: plotly.js's basic bundle (npm) for 1.5 MB reports instead of 5.1 MB.
plotly-basic:
	@version=$$($(BIN)/python -c 'from plotly.offline import get_plotlyjs_version as v; print(v())') \
	&& tmp=$$(mktemp -d) \
	&& (cd $$tmp && npm pack --silent "plotly.js-basic-dist-min@$$version" >/dev/null 2>&1 \
	    && tar -xzf plotly.js-basic-dist-min-$$version.tgz package/plotly-basic.min.js) \
	&& mkdir -p $(VENV)/share/dpaudit \
	&& mv $$tmp/package/plotly-basic.min.js $(VENV)/share/dpaudit/plotly-basic.min.js \
	&& rm -rf $$tmp && echo "reports embed plotly.js $$version's basic bundle (1.2 MB)" \
	|| { rm -rf "$$tmp"; echo "no basic plotly.js bundle from npm: reports embed the full plotly.js (4.8 MB)"; }

## Install, then audit DP-SGD vs a non-DP baseline on the embedded digits data.
demo: install
	$(BIN)/dpaudit train-and-attack --out runs/demo

## Install, then run the whole test suite.
test: install
	$(BIN)/python -m pytest

## Speed and tightness benchmarks (not part of the tests).
bench: install
	$(BIN)/python benchmarks/dp_step.py
	$(BIN)/python benchmarks/report_speed.py
	$(BIN)/python benchmarks/canary_tightness.py --quick
	$(BIN)/python benchmarks/reference_models.py --quick
	$(BIN)/python benchmarks/fit_pipeline.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
