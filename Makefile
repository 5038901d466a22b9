# Two commands on a fresh Debian machine:  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test browser-deps cjk-font clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP) cjk-font
	$(VENV)/bin/healthreach demo

# The pictures' Chinese labels need a CJK font (Debian's fonts-noto-cjk): installed when missing and we
# may (root); otherwise the demo draws its pictures in English and says which package to install.
cjk-font:
	@if fc-list 2>/dev/null | grep -qi "noto.*cjk"; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; \
	else \
		echo "No CJK font: the pictures will be labelled in English. For Chinese labels run:"; \
		echo "  sudo apt-get install -y fonts-noto-cjk"; \
	fi

# Chromium (Debian's package) and CJK fonts for the browser tests: installed when missing and we may
# (root); otherwise the one command to run is printed and the tests stop.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk"; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else \
		echo "The browser tests need Debian's Chromium and CJK fonts. Run:"; \
		echo "  sudo apt-get install -y chromium fonts-noto-cjk"; exit 1; \
	fi

test: $(STAMP) browser-deps
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 2

clean:
	rm -rf $(VENV) maps test-artifacts
