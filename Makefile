# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# the optional extras installed: `make test EXTRAS=dev,live` adds live mode's aiohttp and litellm (.ci/run does)
EXTRAS ?= dev
# one stamp per EXTRAS value, so that asking for other extras installs them
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test test-quick bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)  ## the main job: frames, charts, a comparison and report.html under results/demo/
	$(PY) -m sim experiment outage_replay --replications 5 --out results/demo
	$(PY) -m sim report results/demo

test: $(STAMP)  ## the whole test suite, on every core (pytest-xdist)
	$(PY) -m pytest -q -n auto

test-quick: $(STAMP)  ## the suite without the slow statistical and end-to-end tests (@pytest.mark.slow)
	$(PY) -m pytest -q -n auto -m "not slow"

bench: $(STAMP)  ## simulated requests per wall second, as ratios to textbook SimPy
	$(PY) benchmarks/bench.py

clean:
	rm -rf $(VENV) results/*/ .pytest_cache
