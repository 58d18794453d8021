# ssgnet_nb: everything a fresh machine with python3 and make needs.
#   make demo    install, run the whole pipeline on the built-in demo dataset (demo profile), print the report path
#   make test    install if needed, run every notebook (tools/nbtest.py: nbdev-test with the self-checks) and pytest; ends with "N passed, N failed"
#   make export  notebooks -> library (nbdev-export), then strip outputs (nbdev-clean)
#   make bench   run the benchmarks in bench/ (they write BENCHMARKS.md)
#   make readme  regenerate README.md from nbs/index.ipynb (tools/readme.py; make test checks it is current)
#   make demo-checkpoints   retrain the demo's shipped per-class StyleGAN3 checkpoints (assets/demo/gan; hours on a CPU)
#   make breastmnist-checkpoints   retrain BreastMNIST's shipped generators (assets/breastmnist/gan; many hours on a CPU)
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ssgnet-installed

.PHONY: install demo test export bench readme clean-reports chromium demo-checkpoints breastmnist-checkpoints

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-cache-dir --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import ssgnet_nb, torch, fastai, timm, cleanfid, nbdev, papermill" || { echo "install failed: see the pip output above"; exit 1; }
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ssgnet_nb)" >/dev/null 2>&1
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/ssgnet run demo --profile demo; rc=$$?; echo; echo "Report: $(CURDIR)/reports/demo/index.html"; exit $$rc

test: install chromium
	$(BIN)/python tests/run_suite.py

# The browser test drives Debian's chromium (never a downloaded browser build).
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "could not install chromium (need root and Debian's apt): the browser test will fail"; }

export: install
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean

readme: install
	$(BIN)/python tools/readme.py

bench: install
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# The demo profile starts each class's generator from assets/demo/gan/<class>.pt (gan.init); this retrains them from
# scratch, one class after the other, and ships the final checkpoints with their provenance (<class>.json: command,
# commit, seconds, img/s). Same seed; with another thread count or CPU the float summation order differs, and over
# thousands of steps the weights come out different (alike in quality, not bitwise).
DEMO_GAN_KIMG_lesion ?= 15.12
DEMO_GAN_KIMG_normal ?= 41.832
demo-checkpoints: install
	$(BIN)/ssgnet run demo --profile demo --stages data
	$(foreach c,lesion normal,$(BIN)/python -m ssgnet_nb.gan --profile demo --label $(c) --overrides '{"gan.init": null, "gan.kimg": $(DEMO_GAN_KIMG_$(c)), "gan.tick_kimg": 0.5}' --ship assets/demo/gan &&) true

clean-reports:
	rm -rf reports/*/ reports/index.html

# The cpu profile starts BreastMNIST's generators from assets/breastmnist/gan/<class>.pt (gan.init, gan.kimg 0); this
# retrains them from scratch on the training split, both classes side by side (one process and one torch thread each),
# computes their distance curves and ships the checkpoints with provenance and curve (<class>.json, <class>.curve.csv).
# BREASTMNIST_GAN_KIMG is what both were first trained for; BREASTMNIST_MORE_KIMG lists, in order, class:kimg parts continued
# from the shipped checkpoint afterwards, for a class whose curve was still falling (a class may appear more than once: each
# part continues the checkpoint the part before it shipped; their <class>.json record every part, `earlier`).
BREASTMNIST_GAN_KIMG ?= 36.288
BREASTMNIST_MORE_KIMG ?= normal_benign:16 normal_benign:16
breastmnist-checkpoints: install
	pids=; for c in malignant normal_benign; do SSGNET_NUM_THREADS=1 $(BIN)/python -m ssgnet_nb.gan --dataset breastmnist --profile cpu --label $$c \
	  --overrides '{"gan.init": null, "gan.kimg": $(BREASTMNIST_GAN_KIMG)}' --ship assets/breastmnist/gan & pids="$$pids $$!"; done; \
	for p in $$pids; do wait $$p || exit 1; done
	for ck in $(BREASTMNIST_MORE_KIMG); do SSGNET_NUM_THREADS=1 $(BIN)/python -m ssgnet_nb.gan --dataset breastmnist --profile cpu --label $${ck%%:*} \
	  --overrides '{"gan.init": "assets/breastmnist/gan/{label}.pt", "gan.kimg": '"$${ck##*:}"'}' --ship assets/breastmnist/gan || exit 1; done
