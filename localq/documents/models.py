"""The document rows: one Document per stored file (get_or_create by content hash), one Chunk
per passage, with its vector (float32 bytes) and, on SQLite, its FTS5 keyword-index entry."""
import re

import peewee as pw

from ..db import is_sqlite
from ..models import BaseModel, add_missing_columns


class NeverReusedId(pw.AutoField):
    """An id no later row gets again, even after a delete: a finished job's result names its
    document by id, so a new upload must never take the id of a deleted one. SQLite's plain
    INTEGER PRIMARY KEY hands out max(id) + 1, which reuses the id of the newest row once it is
    deleted; AUTOINCREMENT remembers the largest id ever used. PostgreSQL's serial never goes back."""

    def ddl(self, ctx):
        nodes = super().ddl(ctx)
        database = getattr(self.model._meta.database, 'obj', self.model._meta.database)
        return pw.NodeList((nodes, pw.SQL('AUTOINCREMENT'))) if is_sqlite(database) else nodes


class Document(BaseModel):
    id = NeverReusedId()
    content_hash = pw.CharField(max_length=64, unique=True)
    filename = pw.CharField(max_length=255)                  # the name it was uploaded under
    stored_name = pw.CharField(max_length=100, null=True)    # the file in data/uploads (generated)
    kind = pw.CharField(max_length=10)
    user_id = pw.CharField(max_length=100, default='')
    characters = pw.IntegerField()
    pages = pw.IntegerField(null=True)
    chunks = pw.IntegerField(default=0)
    embedder = pw.CharField(max_length=100, null=True)      # made its vectors; another one re-embeds them
    job_id = pw.CharField(max_length=64, null=True)          # the job that stored it
    created_at = pw.DoubleField()

    class Meta:
        table_name = 'document'


class Chunk(BaseModel):
    id = NeverReusedId()    # the keyword index holds passages under their id
    document = pw.ForeignKeyField(Document, backref='chunk_rows', on_delete='CASCADE')
    number = pw.IntegerField()
    text = pw.TextField()
    start = pw.IntegerField(default=0)        # where it starts in the document's text
    page = pw.IntegerField(null=True)         # PDF page (1-based)
    section = pw.TextField(null=True)         # the headings it falls under: "Guide › Install"
    vector = pw.BlobField(null=True)          # float32 embedding, normalised; None until embedded

    class Meta:
        table_name = 'doc_chunk'
        indexes = ((('document', 'number'), True),)


class ChunkToken(BaseModel):
    """A code-like token of a passage, exactly as written (`-k`, `--gzip`, `os.path.join`,
    `EADDRINUSE`): the word index splits these into words or drops them (FTS5 and PostgreSQL
    both read `-k` as `k`), so a search for them as written looks here (tokens.py)."""
    token = pw.CharField(max_length=100)
    chunk = pw.ForeignKeyField(Chunk, on_delete='CASCADE', column_name='chunk_id')

    class Meta:
        table_name = 'doc_chunk_token'
        primary_key = pw.CompositeKey('token', 'chunk')


MODELS = [Document, Chunk, ChunkToken]
FTS_TABLE = 'doc_chunk_fts'
LATER_DOCUMENT_COLUMNS = ('stored_name', 'pages', 'chunks', 'embedder', 'job_id')


def prepare(db):
    """Keyword index and upgrades, when the app opens its database.

    SQLite: an FTS5 table (porter stemming) holds each chunk's text under the chunk's id.
    PostgreSQL: a GIN index on to_tsvector('english', text). A data folder made before this
    version keeps its documents: the old `chunk` table's passages move here and are embedded
    again (by whatever embedder is set) at the next search."""
    add_missing_columns(db, Document, LATER_DOCUMENT_COLUMNS)
    add_missing_columns(db, Chunk, ('section',))
    if is_sqlite(db):
        for model in (Document, Chunk):
            remember_ids(db, model._meta.table_name)
        db.execute_sql("CREATE VIRTUAL TABLE IF NOT EXISTS %s USING fts5(text, tokenize='porter unicode61')"
                       % FTS_TABLE)
    else:
        db.execute_sql("CREATE INDEX IF NOT EXISTS doc_chunk_tsv ON doc_chunk USING GIN (to_tsvector('english', text))")
    if 'chunk' in db.get_tables():
        with db.atomic():
            db.execute_sql('INSERT INTO doc_chunk (document_id, number, text, start) '
                           'SELECT document_id, number, text, 0 FROM chunk')
            if is_sqlite(db):
                db.execute_sql('INSERT INTO %s (rowid, text) SELECT id, text FROM doc_chunk' % FTS_TABLE)
            db.execute_sql('UPDATE document SET embedder = NULL, chunks = '
                           '(SELECT COUNT(*) FROM doc_chunk WHERE doc_chunk.document_id = document.id)')
            db.execute_sql('DROP TABLE chunk')


def remember_ids(db, table):
    """Give an older folder's SQLite table AUTOINCREMENT (NeverReusedId), which only a rebuild can
    add: a copy made under the new definition, renamed over the old table, its indexes again.
    Foreign keys are off meanwhile, or dropping `document` would delete every passage with it.
    Ids deleted before this upgrade were never recorded; from here on none comes back."""
    def definition():
        return db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
    if 'AUTOINCREMENT' in definition().upper():
        return
    db.execute_sql('PRAGMA foreign_keys = OFF')
    if db.execute_sql('PRAGMA foreign_keys').fetchone()[0]:
        return   # inside a transaction the pragma does nothing: better no upgrade than lost passages
    try:
        with db.atomic('IMMEDIATE'):
            sql = definition()
            if 'AUTOINCREMENT' in sql.upper():
                return   # another process upgraded it first
            indexes = [r[0] for r in db.execute_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
            new = table + '__rebuild'
            sql = re.sub(r'^CREATE TABLE\s+("?)%s\1' % table, 'CREATE TABLE "%s"' % new, sql)
            sql = sql.replace('PRIMARY KEY', 'PRIMARY KEY AUTOINCREMENT', 1)   # the id's (the first column)
            db.execute_sql(sql)
            db.execute_sql('INSERT INTO "%s" SELECT * FROM "%s"' % (new, table))
            db.execute_sql('DROP TABLE "%s"' % table)
            db.execute_sql('ALTER TABLE "%s" RENAME TO "%s"' % (new, table))
            for index in indexes:
                db.execute_sql(index)
    finally:
        db.execute_sql('PRAGMA foreign_keys = ON')
