# The two set-up commands of the README: `make run` and `make test`.
.PHONY: install run test check
install:
	@bash scripts/install.sh
run: install
	.venv/bin/python -m knowledge check
	.venv/bin/python -m api --host $${HOST:-127.0.0.1} --port $${PORT:-8000}
test: install
	.venv/bin/python -m pytest -q
check: install
	.venv/bin/python -m knowledge check
