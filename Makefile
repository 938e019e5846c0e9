# Everything a fresh machine needs: `make demo` and `make test` create the
# virtualenv and install what they use themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BUILD  ?= build
DEMO   := $(BUILD)/digits

.PHONY: demo test lint venv clean sysdeps

# Debian packages the tests use (clang for the warning test, the Arm cross
# toolchain and QEMU for the on-target tests). Installed with apt when running
# as root and missing; otherwise only reported.
SYS_PACKAGES := clang cmake gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
sysdeps:
	@if ! command -v dpkg >/dev/null 2>&1; then \
	  echo "not a Debian system: make sure these are installed: $(SYS_PACKAGES)"; exit 0; fi; \
	missing=""; for p in $(SYS_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
	  else echo "missing packages:$$missing (install them; some tests will fail)"; fi; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The main job on the bundled example: a small CNN trained in float (here, in
# numpy) on scikit-learn's digits, exported to ONNX, then imported, profiled,
# compiled to C, validated against ONNX Runtime on the held-out digits, and
# checked; then quantized to int8 by microlith (calibrated on training digits,
# the fidelity report measured on the held-out ones), and the int8 model
# compiled and validated bit for bit against TensorFlow Lite Micro.
demo: $(STAMP)
	$(PY) examples/digits/make_model.py --out $(DEMO)/digits_cnn.onnx
	$(VENV)/bin/microlith inspect $(DEMO)/digits_cnn.onnx
	$(VENV)/bin/microlith profile $(DEMO)/digits_cnn.onnx --target nrf52840
	$(VENV)/bin/microlith profile $(DEMO)/digits_cnn.onnx --target cortex-m4f --json > $(DEMO)/profile.json
	$(VENV)/bin/microlith compile $(DEMO)/digits_cnn.onnx -o $(DEMO)/c --prefix digits --target atsamd21g18a
	$(VENV)/bin/microlith validate $(DEMO)/digits_cnn.onnx --data $(DEMO)/digits_test.npz
	$(VENV)/bin/microlith check $(DEMO)/digits_cnn.onnx --target atsamd21g18a
	@echo "--- the same model against a 2 KiB RAM budget: a CI gate exits 3"
	$(VENV)/bin/microlith check $(DEMO)/digits_cnn.onnx --ram-budget 2K; test $$? -eq 3
	@echo "--- post-training int8 quantization by microlith, measured on the held-out digits"
	$(VENV)/bin/microlith quantize $(DEMO)/digits_cnn.onnx --calib $(DEMO)/digits_calib.npz \
	  --eval $(DEMO)/digits_test.npz --labels $(DEMO)/digits_test.npz -o $(DEMO)/digits_int8
	$(VENV)/bin/microlith compile $(DEMO)/digits_int8.tflite -o $(DEMO)/c_int8 --prefix digits_q \
	  --target atsamd21g18a
	$(VENV)/bin/microlith validate $(DEMO)/digits_int8.tflite --reference tflm
	@echo "demo: wrote $(DEMO)/digits_cnn.onnx, $(DEMO)/profile.json, the C project $(DEMO)/c,"
	@echo "      the int8 model $(DEMO)/digits_int8.tflite (+ .json report) and its C in $(DEMO)/c_int8"

lint: $(STAMP)
	$(PY) -m ruff check src tests examples bench

test: lint sysdeps
	$(PY) -m pytest -q

clean:
	rm -rf $(BUILD) .pytest_cache
