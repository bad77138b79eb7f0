# virtsnap: `make demo` runs the main job, `make test` runs every test.
# Both install what is missing first (Debian packages, then virtual environments).

PYTHON ?= python3
VENV   := .venv
TESTENV := .venv-test
DOCSENV := .venv-docs
DIST   := dist

.PHONY: deps dev demo test docs matrix bench bench-quick bench-readme wheel clean

deps:
	scripts/bootstrap

$(VENV)/.installed: pyproject.toml setup.py src/snapshot.pyx src/libvirt.pxd src/flags.h src/events.h src/_events.pxi | deps
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[cli,test]" build
	touch $@

# Editable install for development: rebuilds the extension in place.
dev: deps
	@rm -f $(VENV)/.installed
	$(MAKE) $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/python examples/quickstart.py
	$(VENV)/bin/virtsnap -c test:///default demo

wheel: $(VENV)/.installed
	rm -rf $(DIST)
	$(VENV)/bin/python -m build --outdir $(DIST) .

test: deps
	bash scripts/run-tests

# The documentation site (docs/, Sphinx + MyST) into docs/_build/html, warnings
# as errors, in a virtual environment of its own with the package installed.
$(DOCSENV)/.installed: pyproject.toml setup.py src/snapshot.pyx src/libvirt.pxd src/flags.h src/events.h | deps
	$(PYTHON) -m venv $(DOCSENV)
	$(DOCSENV)/bin/pip install -q --upgrade pip
	$(DOCSENV)/bin/pip install -q -e ".[cli,docs]"
	touch $@

docs: $(DOCSENV)/.installed
	rm -rf docs/_build
	$(DOCSENV)/bin/python -m sphinx -b html -W --keep-going -n docs docs/_build/html

# The suite on Debian 11, 12 and 13 (libvirt 7.0, 9.0, 11.3) in cached chroots;
# a passing run writes its table into docs/guides/compatibility.md.
matrix:
	scripts/matrix --readme

# Benchmarks against raw C and libvirt-python (starts the daemon for the RPC rows):
# wall-clock tables, then instructions per snapshot under callgrind; then the
# command line against virsh, wall time and instructions (valgrind), into
# docs/guides/performance.md. `make bench-readme` writes the last full run's figures there.
bench: $(VENV)/.installed
	scripts/bootstrap valgrind
	scripts/libvirtd-up
	$(VENV)/bin/python benchmarks/run.py --install --callgrind --json benchmarks/results.json
	$(VENV)/bin/python benchmarks/cli_vs_virsh.py --callgrind --json benchmarks/cli-virsh.json
	$(VENV)/bin/python benchmarks/readme_virsh_table.py benchmarks/cli-virsh.json

bench-quick: $(VENV)/.installed
	scripts/bootstrap valgrind
	scripts/libvirtd-up
	$(VENV)/bin/python benchmarks/run.py --install --quick --callgrind
	$(VENV)/bin/python benchmarks/cli_vs_virsh.py --quick

bench-readme: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/readme.py benchmarks/results.json

clean:
	rm -rf $(VENV) $(TESTENV) $(DOCSENV) docs/_build $(DIST) build src/snapshot.c src/virtsnap/*.so wheelhouse
