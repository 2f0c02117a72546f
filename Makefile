# finegrain: install, test, gate. Run inside the Python environment you want to use (a venv is recommended):
#   python3 -m venv .venv && . .venv/bin/activate && make install && dvc repro
PYTHON ?= python
PIP := $(PYTHON) -m pip
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
MMCV_VERSION := 2.1.0
# CPU build by default; GPU users: make install FORCE_CUDA=1 (needs nvcc matching torch's CUDA)
FORCE_CUDA ?= 0
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE := 1

.PHONY: install install-dev mmcv test lint gate bench clean-ckpt

install:  ## torch, mmcv (compiled once, ~14 min on 2 cores; pip caches the wheel), the package with exact pins
	$(PIP) install -q --upgrade "pip>=24" "setuptools<81" wheel ninja
	$(PIP) install -q $(TORCH_PINS)
	$(MAKE) mmcv
	$(PIP) install -q -c constraints.txt -e .
	$(PIP) install -q -c constraints.txt mmdet==3.3.0
	$(PIP) install -q --no-deps -c constraints.txt torchattacks
	@$(PYTHON) -c "import torch, mmcv, finegrain; print('finegrain ready: torch', torch.__version__, 'mmcv', mmcv.__version__)"

mmcv:  ## mmcv 2.1 with compiled ops; torch >= 2.13 headers need C++20, hence the compiler wrapper
	@start=$$(date +%s); \
	 $(PYTHON) -c "import mmcv, mmcv.ops" 2>/dev/null && echo "mmcv already built" || \
	 MMCV_WITH_OPS=1 FORCE_CUDA=$(FORCE_CUDA) MAX_JOBS=$${MAX_JOBS:-2} CXX=$(CURDIR)/tools/cxx-c++20 \
	 $(PIP) install -q --no-build-isolation -c constraints.txt mmcv==$(MMCV_VERSION) && \
	 echo "mmcv $(MMCV_VERSION) with ops ready in $$(( $$(date +%s) - start )) s (a source build takes ~14 min on 2 cores)"

install-dev: install  ## + test tools, and Debian's chromium for the report page's headless-browser test (needs root)
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

test:  ## the whole suite (unit + one tiny real pipeline shared by many tests)
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check src stages tests

gate:  ## dvc metrics diff against the committed metrics; fails on a drop beyond params.yaml gate.tolerance
	$(PYTHON) -m finegrain gate

bench:  ## the bare step vs the whole fit per layout and precision (Lite0 224 px, small_cnn 64 px) on the device found
	$(PYTHON) bench/fit.py

clean-ckpt:  ## drop resume state of interrupted runs
	rm -rf data/ckpt
