# pyquark: the two README commands are `make demo` and `make test`; both set up on their own.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
APT_PKGS := gcc

.PHONY: setup kernel test demo bench lint clean deb-packages

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory deb-packages
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(VPY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests need, installed only when missing.
deb-packages:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

kernel: setup
	$(VENV)/bin/qkc build -o build/kernel.elf

test: setup
	$(VPY) -m pytest

# The main job as far as it goes today: build the kernel, boot it in a VM (pvm/kvm when /dev/kvm
# works, unicorn otherwise) through its self-test, then run a kernel-Python function compiled by qkc.
demo: kernel
	$(VENV)/bin/qvisor boot
	@echo "qkc run examples/fib.py fib 90:"
	@$(VENV)/bin/qkc run examples/fib.py fib 90

bench: setup
	$(VPY) -m bench

lint: setup
	$(VENV)/bin/ruff check toolchain qkernel qvisor tests bench

clean:
	rm -rf build .pytest_cache
