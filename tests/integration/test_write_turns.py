"""SQLite writers take turns (localq/writeturn.py): many writers in several processes lose nothing
and fail nothing; a writer stuck inside its transaction gives the others SQLite's clear
"database is locked" after busy_timeout, not a hang; and a killed one frees the turn at once."""
import os
import signal
import subprocess
import sys
import textwrap

import peewee
import pytest

from localq.config import Config
from localq.db import is_locked, open_database, write_transaction
from localq.query import Query
from tests.conftest import TEST_DATABASE_URL

pytestmark = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason='write turns are SQLite only')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# argv: data folder, threads, transactions per thread. Each transaction reads the counter and
# writes it back one higher: a lost turn (two writers inside at once) would lose an increment.
INCREMENT = textwrap.dedent('''
    import sys, threading
    from localq.config import Config
    from localq.db import open_database, write_transaction
    db = open_database(Config().replace(data_dir=sys.argv[1]))
    def run():
        for _ in range(int(sys.argv[3])):
            with write_transaction(db):
                n, = db.execute_sql('SELECT n FROM counter').fetchone()
                db.execute_sql('UPDATE counter SET n = ?', (n + 1,))
        db.close()
    threads = [threading.Thread(target=run) for _ in range(int(sys.argv[2]))]
    [t.start() for t in threads]
    [t.join() for t in threads]
''')

# argv: data folder. Opens a write transaction, says so, and stays inside it until killed.
STUCK_INSIDE = textwrap.dedent('''
    import sys
    from localq.config import Config
    from localq.db import open_database, write_transaction
    db = open_database(Config().replace(data_dir=sys.argv[1]))
    with write_transaction(db):
        db.execute_sql("INSERT INTO note (text) VALUES ('from the stuck writer')")
        print('inside', flush=True)
        sys.stdin.readline()
''')


def python(code, *args, **kwargs):
    return subprocess.Popen([sys.executable, '-c', code] + [str(a) for a in args], cwd=ROOT, **kwargs)


def test_writers_in_several_processes_and_threads_take_turns_and_lose_nothing(tmp_path):
    db = open_database(Config().replace(data_dir=str(tmp_path)))
    db.execute_sql('CREATE TABLE counter (n INTEGER)')
    db.execute_sql('INSERT INTO counter VALUES (0)')
    procs = [python(INCREMENT, tmp_path, 3, 150, stderr=subprocess.PIPE) for _ in range(4)]
    errors = [proc.communicate(timeout=120)[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, errors
    assert db.execute_sql('SELECT n FROM counter').fetchone()[0] == 4 * 3 * 150
    db.close()


def test_a_writer_stuck_inside_its_transaction_gives_others_a_locked_error_and_a_killed_one_frees_them(tmp_path):
    db = open_database(Config().replace(data_dir=str(tmp_path), busy_timeout=0.5))
    db.execute_sql('CREATE TABLE note (text TEXT)')
    stuck = python(STUCK_INSIDE, tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert stuck.stdout.readline() == b'inside\n'
        # A write transaction and a write on its own (an enqueue's INSERT) both give up after busy_timeout
        with pytest.raises(peewee.OperationalError) as failed:
            with write_transaction(db):
                db.execute_sql("INSERT INTO note (text) VALUES ('in a transaction')")
        assert is_locked(failed.value)
        query = Query(lambda: db)
        with pytest.raises(peewee.OperationalError) as failed:
            query.write("INSERT INTO note (text) VALUES ('on its own')")
        assert is_locked(failed.value)
    finally:
        stuck.send_signal(signal.SIGKILL)
        stuck.wait(timeout=30)
        stuck.stdout.close()
        stuck.stdin.close()
    # Once it is killed, its turn and its lock go with it: the next write goes through, its own did not
    with write_transaction(db):
        db.execute_sql("INSERT INTO note (text) VALUES ('after')")
    assert [t for t, in db.execute_sql('SELECT text FROM note')] == ['after']
    db.close()
