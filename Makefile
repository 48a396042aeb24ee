# pyquark: the two README commands are `make demo` and `make test`; both set up on their own.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
APT_PKGS := gcc musl-tools busybox-static linux-libc-dev make perl git sqlite3 xz-utils libpython3.11-testsuite

.PHONY: setup kernel test demo bench compat lint clean deb-packages userland

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py qvisor/platform/_runloop.pyx
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

test: setup deb-packages
	$(VPY) -m pytest

# The main job: build the kernel, boot it in a VM (pvm/kvm when /dev/kvm works, unicorn otherwise)
# through its self-test, then run Debian's static busybox in the sandbox.
demo: kernel
	$(VENV)/bin/qvisor boot
	$(VENV)/bin/qvisor run -- /bin/busybox echo "hello from busybox, in the pyquark sandbox"
	$(VENV)/bin/qvisor run -- /bin/busybox uname -a

bench: setup
	@# peers for bench/peers.py: qemu-user and gVisor (runsc), installed only when missing
	@missing=""; command -v qemu-x86_64 >/dev/null 2>&1 || missing="$$missing qemu-user"; \
	command -v runsc >/dev/null 2>&1 || missing="$$missing runsc"; \
	if [ -n "$$missing" ]; then \
		echo "bench: installing missing peers:$$missing (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
			|| echo "bench: could not install$$missing; those peers show as n/a"; \
	fi
	$(VPY) -m bench

# The long compatibility run: CPython's regression modules natively and in the sandbox, every
# test's outcome compared (the short piece is in `make test`: tests/userland/test_cpython_suite.py)
compat: setup deb-packages kernel
	$(VPY) tests/userland/cpython_suite.py --platform auto --out build/compat-cpython.md
	@echo "compat: report in build/compat-cpython.md"

# The userland test corpus: each userland_tests/NAME.c built three times: static into
# build/userland/glibc/NAME (gcc) and build/userland/musl/NAME (musl-gcc), and dynamically
# linked (a PIE through Debian's ld.so and libc.so.6) into build/userland/glibc-dyn/NAME. The packages are
# checked first, then a sub-make builds, so that it sees a musl-gcc just installed (and,
# should musl-gcc still be missing, builds the glibc half and says so).
USERLAND_NAMES  := $(patsubst userland_tests/%.c,%,$(wildcard userland_tests/*.c))
USERLAND_GLIBC  := $(USERLAND_NAMES:%=build/userland/glibc/%)
USERLAND_MUSL   := $(USERLAND_NAMES:%=build/userland/musl/%)
USERLAND_DYN    := $(USERLAND_NAMES:%=build/userland/glibc-dyn/%)
USERLAND_WARN   := -O2 -Wall -Wextra
USERLAND_CFLAGS := -static $(USERLAND_WARN)

userland:
	@$(MAKE) --no-print-directory deb-packages
	@if command -v musl-gcc >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(USERLAND_GLIBC) $(USERLAND_DYN) $(USERLAND_MUSL); \
	else echo "userland: musl-gcc not found (Debian package musl-tools): building the glibc variants only"; \
	  $(MAKE) --no-print-directory $(USERLAND_GLIBC) $(USERLAND_DYN); fi

build/userland/glibc/%: userland_tests/%.c userland_tests/ut.h
	@mkdir -p $(@D)
	gcc $(USERLAND_CFLAGS) -o $@ $< -lpthread

build/userland/glibc-dyn/%: userland_tests/%.c userland_tests/ut.h build/userland/lib/libuttls.so
	@mkdir -p $(@D)
	gcc $(USERLAND_WARN) -o $@ $< -lpthread -ldl

.PRECIOUS: build/userland/lib/%.so   # kept: dynload dlopens it at run time
build/userland/lib/%.so: userland_tests/lib/%.c
	@mkdir -p $(@D)
	gcc $(USERLAND_WARN) -shared -fPIC -o $@ $<

build/userland/musl/%: userland_tests/%.c userland_tests/ut.h
	@mkdir -p $(@D)
	musl-gcc $(USERLAND_CFLAGS) -o $@ $<

lint: setup
	$(VENV)/bin/ruff check toolchain qkernel qvisor tests bench

clean:
	rm -rf build .pytest_cache
