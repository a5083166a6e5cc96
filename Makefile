# pcapkit: `make demo` and `make test` are the two commands a new user needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := samples/stale_endpoint
# Debian packages the tests drive for real: tshark (oracle, pyshark), tcpdump/dumpcap, iproute2 and
# iptables and nftables (the lab; nft for kube-proxy's nftables mode), chromium (the HTML report).
APT_PACKAGES := tshark tcpdump iproute2 iptables nftables procps chromium
TOOLS        := tshark tcpdump dumpcap ip iptables nft editcap chromium
# ... and those `make bench` measures pcapkit against; GNU time reports each one's peak RSS.
BENCH_APT    := tshark tcpdump tcptrace time
BENCH_TOOLS  := tshark tcpdump tcptrace /usr/bin/time
BENCH_STAMP  := $(VENV)/.bench-installed

.PHONY: demo test venv bytecode warm system-deps bench-deps samples bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Where PYTHONDONTWRITEBYTECODE is set (this workplace's machines set it), Python
# never caches a module it compiles, and pip compiles none of an editable install (it does a
# wheel's): every process, each worker included, then compiled pcapkit's ~150 modules from
# source, 0.23 s of each start-up (a 600-packet capture: 1.11-1.17 s -> 0.86-0.91 s). Compiled
# here instead; Python checks each file against its source, so an edited module is never
# run stale, only compiled again until this runs.
bytecode: venv
	@$(BIN)/python -m compileall -q pcapkit samples bench

# numba compiles each kernel the first time a process runs it (~1.5 min of one core), then
# loads it from its cache in __pycache__: compiled here, not by the first large capture, nor by
# every process that meets one at once (pytest's two workers did, 2 minutes each).
warm: bytecode
	$(BIN)/python -m pcapkit.warm

demo: bytecode
	$(BIN)/pcapkit analyze $(wildcard $(DEMO)/*.pcap) --k8s $(DEMO)/snapshot.json

# $(call apt-install,TOOLS,PACKAGES,WARNING): as root, apt-get install PACKAGES when one of
# TOOLS is missing; otherwise print WARNING.
define apt-install
@missing=""; for t in $(1); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
    echo "installing Debian packages for:$$missing"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
  else echo "warning: missing$$missing; $(3)"; fi; \
fi
endef

# Installs what the tests need when it is missing (as root, with apt-get), then runs them all.
system-deps:
	$(call apt-install,$(TOOLS),$(APT_PACKAGES),tests that need them will skip)

# The kernels compile beside the lint, which leaves a core free. Three pytest workers on two
# cores: the lab's tests wait on real traffic (timeouts, retransmissions) most of their time,
# and a third worker fills it (the suite 14:57 -> 13:30 on the 2-core VM; its CPU time is the
# same).
test: bytecode system-deps
	@$(BIN)/python -m pcapkit.warm & warm=$$!; \
	$(MAKE) --no-print-directory lint; lint=$$?; \
	wait $$warm && exit $$lint
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --durations=15

samples: bytecode system-deps
	$(BIN)/python -m samples.lab record

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e '.[bench]'
	@touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)
	$(call apt-install,$(BENCH_TOOLS),$(BENCH_APT),the bench shows them as not installed)

# ~10 minutes: builds its captures (up to ~15 GB in bench/data/, git-ignored; recording the two
# lab captures they are copied from needs root), measures, writes bench/plot.png.
bench: warm system-deps bench-deps
	$(BIN)/python -m bench

lint: venv
	$(BIN)/ruff check pcapkit tests bench samples
	$(BIN)/mypy pcapkit

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
