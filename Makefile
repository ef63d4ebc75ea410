# Conveniences; the scripts are the real commands (they work without make installed).
.PHONY: demo test lint bench

demo:
	./scripts/demo

test:
	./scripts/test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

bench:
	.venv/bin/python -m bench.store
