"""Start localq: queue, worker and web app in one process. See README.md."""
from localq.cli import main

if __name__ == '__main__':
    raise SystemExit(main(['run'] + __import__('sys').argv[1:]))
