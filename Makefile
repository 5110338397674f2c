.PHONY: demo test lint bench messages

demo:          ## install, migrate, seed the demo brand, serve admin and GraphQL on 127.0.0.1:8000
	bash scripts/demo.sh

test:          ## the whole test suite on PostgreSQL
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

messages:      ## refresh and compile the zh-hans and en catalogues
	.venv/bin/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=bench
	.venv/bin/python manage.py compilemessages --ignore=.venv

bench:
	.venv/bin/python bench/import_orders.py --rows 500000
	.venv/bin/python bench/seed_demo.py --customers 100000
