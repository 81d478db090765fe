# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench install dataset shipped-models clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/livecrepre demo --bars 8 --bpm 132 --seed 7 --to file:takes/demo.mid

test: $(STAMP)
	$(PY) -m pytest -q

# Benchmarks compare against PyTorch: installed here only, never by demo or test.
bench: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) benchmarks/step_latency.py
	$(PY) benchmarks/event_lateness.py
	$(PY) benchmarks/cold_start.py
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/shipped_models.py
	$(PY) benchmarks/swap_priming.py
	$(PY) benchmarks/swap_storm.py
	$(PY) benchmarks/swap_memory.py
	$(PY) benchmarks/many_voices.py
	$(PY) benchmarks/input_latency.py
	$(PY) benchmarks/notebook_times.py
	scripts/start_jackd.sh >/dev/null; $(PY) benchmarks/clock_out_jitter.py

# Rebuild the shipped models from data in the music21 package or generated here (scripts/train_shipped.py;
# about 23 min melody, 10 min abc, 3 min chorale, 2 min gesture on 2 CPU cores).
dataset: $(STAMP)
	$(PY) scripts/build_folk_dataset.py data/folk.npz

shipped-models: $(STAMP)
	$(PY) scripts/train_shipped.py melody
	$(PY) scripts/train_shipped.py abc
	$(PY) scripts/train_shipped.py chorale
	$(PY) scripts/train_shipped.py gesture

clean:
	rm -rf $(VENV) takes logs *.egg-info
