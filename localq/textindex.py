"""A text index over the jobs' arguments, for the job list's search box.

Why: "find the jobs whose arguments or error mention X" scanned every row when X was
found nowhere (644 ms at 1,000,000 jobs, bench/bench_web.py). Both databases index
substrings by trigram:
  - PostgreSQL: a pg_trgm GIN index on the arguments and error text, which ILIKE uses.
  - SQLite: an FTS5 table with the trigram tokenizer over args and kwargs (external
    content: the text stays in the job row). It is NOT kept by an insert trigger: an FTS5
    insert in every enqueue's own transaction cost 40% of the enqueue rate. Workers'
    heartbeats add new jobs in batches (catch_up), and a search first indexes what is left.
    A job's arguments never change once queued, so a batch can index them at any time;
    a delete trigger (pruning, discard: off the hot path) removes them.
    Error text has its own FTS5 table, kept by triggers on the error columns: they fire on a
    failure's outcome (and a re-queue that clears it), never on an enqueue, claim or success.
A query of fewer than 3 characters has no trigram: it scans, as before.
(SQLite's VACUUM may renumber the job table's rowids, which the FTS table refers to:
after a manual VACUUM, delete the job_text_mark row and run
INSERT INTO job_text (job_text) VALUES ('rebuild'). localq never vacuums.)
"""
import logging

from peewee import SQL

from .db import is_sqlite, write_transaction
from .models import Job

logger = logging.getLogger(__name__)

MIN_CHARS = 3      # a trigram index finds nothing shorter
# Characters of a job's args (and of its kwargs) that are indexed. Each distinct trigram is an
# index entry: 3 jobs with 2 MB of base64 in their arguments (the lab's payloads lesson) took
# 17.6 s to index, holding SQLite's write lock, so producers failed "database is locked".
INDEXED_CHARS = 2048
SELECTIVE = 5000   # matches up to which the index drives the query (see text_condition)
BATCH = 20000      # jobs indexed per catch-up statement

SQLITE_SETUP = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS job_text USING fts5(args, kwargs, content='job', "
    "content_rowid='rowid', tokenize='trigram')",
    # The last job rowid indexed (one row): FTS5 cannot tell it for an external-content table.
    'CREATE TABLE IF NOT EXISTS job_text_mark (id INTEGER PRIMARY KEY CHECK (id = 1), last_rowid INTEGER NOT NULL)',
    'INSERT OR IGNORE INTO job_text_mark (id, last_rowid) VALUES (1, 0)',
    "CREATE VIRTUAL TABLE IF NOT EXISTS job_error_text USING fts5(error_type, error_message, content='job', "
    "content_rowid='rowid', tokenize='trigram')",
    # WHEN: SQLite fires an UPDATE OF trigger for every column in the SET list, and a success's
    # outcome sets the error columns to NULL again; only a real change has work to do.
    "CREATE TRIGGER IF NOT EXISTS job_error_text_update AFTER UPDATE OF error_type, error_message ON job "
    "WHEN old.error_type IS NOT new.error_type OR old.error_message IS NOT new.error_message BEGIN "
    "INSERT INTO job_error_text (job_error_text, rowid, error_type, error_message) SELECT 'delete', old.rowid, "
    "old.error_type, old.error_message WHERE old.error_type IS NOT NULL OR old.error_message IS NOT NULL; "
    "INSERT INTO job_error_text (rowid, error_type, error_message) SELECT new.rowid, new.error_type, "
    "new.error_message WHERE new.error_type IS NOT NULL OR new.error_message IS NOT NULL; END",
    "CREATE TRIGGER IF NOT EXISTS job_error_text_insert AFTER INSERT ON job "
    "WHEN new.error_type IS NOT NULL OR new.error_message IS NOT NULL BEGIN "
    "INSERT INTO job_error_text (rowid, error_type, error_message) "
    "VALUES (new.rowid, new.error_type, new.error_message); END",
    "CREATE TRIGGER IF NOT EXISTS job_error_text_delete AFTER DELETE ON job "
    "WHEN old.error_type IS NOT NULL OR old.error_message IS NOT NULL BEGIN "
    "INSERT INTO job_error_text (job_error_text, rowid, error_type, error_message) "
    "VALUES ('delete', old.rowid, old.error_type, old.error_message); END",
    # A deleted job leaves the index. The mark never passes the newest job: SQLite gives a new
    # row the highest rowid + 1, which after deleting the newest jobs is one already passed.
    "CREATE TRIGGER IF NOT EXISTS job_text_delete AFTER DELETE ON job "
    "WHEN old.rowid <= (SELECT last_rowid FROM job_text_mark) BEGIN "
    "INSERT INTO job_text (job_text, rowid, args, kwargs) VALUES ('delete', old.rowid, substr(old.args, 1, %d), "
    "substr(old.kwargs, 1, %d)); " % (INDEXED_CHARS, INDEXED_CHARS) +
    "UPDATE job_text_mark SET last_rowid = (SELECT COALESCE(MAX(rowid), 0) FROM job) "
    "WHERE last_rowid > (SELECT COALESCE(MAX(rowid), 0) FROM job); END",
)
PG_TEXT = ("(left(COALESCE(args, ''), %d) || ' ' || left(COALESCE(kwargs, ''), %d) || ' ' || COALESCE(error_type, '') "
           "|| ' ' || COALESCE(error_message, ''))" % (INDEXED_CHARS, INDEXED_CHARS))


def create_text_index(db):
    """Create the index if it is missing (SQLite: the errors indexed at once, the arguments by
    the next catch-ups)."""
    if is_sqlite(db):
        # BEGIN IMMEDIATE: processes starting together (a worker, producers) take turns. A
        # deferred transaction that read the schema and then wrote failed "database is locked".
        with write_transaction(db):
            new = not db.execute_sql("SELECT 1 FROM sqlite_master WHERE name = 'job_error_text'").fetchone()
            for statement in SQLITE_SETUP:
                db.execute_sql(statement)
            if new:   # a data folder from before: its failed jobs' errors
                db.execute_sql('INSERT INTO job_error_text (rowid, error_type, error_message) SELECT rowid, '
                               'error_type, error_message FROM job WHERE error_type IS NOT NULL '
                               'OR error_message IS NOT NULL')
        return
    try:
        with db.atomic():
            db.execute_sql('CREATE EXTENSION IF NOT EXISTS pg_trgm')
            db.execute_sql('CREATE INDEX IF NOT EXISTS job_text_trgm ON job USING gin (%s gin_trgm_ops)' % PG_TEXT)
    except Exception as exc:   # no right to create the extension: search still works, by scanning
        logger.warning('no trigram index for job search (%s); text search scans the job table', exc)


def _behind(db):
    """(the mark, whether a job beyond it exists): two index lookups, no lock."""
    last = db.execute_sql('SELECT last_rowid FROM job_text_mark').fetchone()[0]
    return last, db.execute_sql('SELECT 1 FROM job WHERE rowid > ? LIMIT 1', (last,)).fetchone() is not None


def catch_up(db, limit=BATCH):
    """SQLite: index the arguments of up to `limit` jobs queued since the last catch-up;
    returns (how many, the mark after). Nothing new costs two reads and no write lock (the
    workers' heartbeats call it every few seconds). Several workers may index at once: the
    write transaction makes them take turns, and the second finds nothing new."""
    if not is_sqlite(db):
        return 0, None
    last, behind = _behind(db)
    if not behind:
        return 0, last
    with write_transaction(db):
        last = db.execute_sql('SELECT last_rowid FROM job_text_mark').fetchone()[0]
        top, n = db.execute_sql('SELECT MAX(rowid), COUNT(*) FROM (SELECT rowid FROM job WHERE rowid > ? '
                                'ORDER BY rowid LIMIT ?)', (last, limit)).fetchone()
        if not n:
            return 0, last
        db.execute_sql('INSERT INTO job_text (rowid, args, kwargs) SELECT rowid, substr(args, 1, ?), '
                       'substr(kwargs, 1, ?) FROM job WHERE rowid > ? AND rowid <= ?',
                       (INDEXED_CHARS, INDEXED_CHARS, last, top))
        db.execute_sql('UPDATE job_text_mark SET last_rowid = ?', (top,))
    return n, top


def text_condition(db, text):
    """A Peewee condition on Job, true for a job whose arguments or error contain text (any
    case), read through indexes; None where scanning in the list's order is the better
    plan: a text too short for trigrams, or (SQLite) one in more than SELECTIVE jobs, where
    a page of 50 is found sooner by walking the list than by collecting every match."""
    if len(text) < MIN_CHARS:
        return None
    if not is_sqlite(db):
        escaped = text.replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')
        return SQL('%s ILIKE %%s' % PG_TEXT, ['%' + escaped + '%'])
    _, last = catch_up(db)   # what the workers' heartbeats have not indexed yet (a batch at most)
    phrase = '"%s"' % text.replace('"', '""')   # one FTS5 string: no query syntax from users
    found = sum(db.execute_sql('SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE %s MATCH ? LIMIT ?)' % (table, table),
                               (phrase, SELECTIVE + 1)).fetchone()[0] for table in ('job_text', 'job_error_text'))
    if found > SELECTIVE:
        return None
    in_arguments = Job.id.in_(SQL('(SELECT id FROM job WHERE rowid IN '
                                  '(SELECT rowid FROM job_text WHERE job_text MATCH ?))', [phrase]))
    in_error = Job.id.in_(SQL('(SELECT id FROM job WHERE rowid IN '
                              '(SELECT rowid FROM job_error_text WHERE job_error_text MATCH ?))', [phrase]))
    # Jobs queued since the catch-up above (or beyond its batch): a scan of the newest rows only.
    not_indexed = (Job.id.in_(SQL('(SELECT id FROM job WHERE rowid > ?)', [last])) &
                   (Job.args.contains(text) | Job.kwargs.contains(text)))
    return in_arguments | in_error | not_indexed
