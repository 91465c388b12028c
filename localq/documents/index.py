"""The two indexes a search reads: keywords and vectors.

Keywords: SQLite's FTS5 (porter stemming, BM25) or PostgreSQL's full-text search (a GIN index
on to_tsvector('english', text), ts_rank_cd). Vectors: every chunk's float32 vector in one
numpy matrix per process, scored by one matrix product per query (no per-row decoding). The
matrix is reloaded when the documents change (their count, newest id or total chunks), and
chunks made by another embedder are embedded again first.
"""
import re
import threading

import numpy as np

from .models import FTS_TABLE
from .chunk import with_section
from .tokens import is_option, token_frequency

# Words that say nothing about a passage; left out of the keyword query (BM25 would match them
# everywhere). PostgreSQL's 'english' configuration has its own list.
STOPWORDS = frozenset('''a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me more most my
myself no nor not now of off on once only or other our ours ourselves out over own same she should so some
such than that the their theirs them themselves then there these they this those through to too under until
up very was we were what when where which while who whom why will with would you your yours yourself
yourselves does do tell show get use using used one also may might must shall much many way ways'''.split())

_TERM = re.compile(r"(?<![\w\-])--?[A-Za-z][\w\-]*|\w(?:[\w.\-]*\w)?")   # options (-k, --gzip) whole


def query_terms(query):
    """The words of a query worth matching: identifiers whole (pg_stat_activity, os.path.join) and,
    for a dotted one, its last part too (program.exitOverride is often written .exitOverride());
    no stopwords."""
    seen, terms = set(), []
    for term in _TERM.findall(query):
        for candidate in (term, term.rsplit('.', 1)[-1]) if '.' in term and not term.startswith('-') else (term,):
            low = candidate.lower()
            if low not in STOPWORDS and low not in seen and (len(low) > 1 or low.isdigit()):
                seen.add(low)
                terms.append(candidate)
    return terms


def keyword_matches(storage, terms, limit):
    """[(chunk id, score)] best first; higher score = better keyword match."""
    if not terms:
        return []
    if storage.is_sqlite:
        # Each term a quoted string (an identifier becomes a phrase of its parts), any of them.
        match = ' OR '.join('"%s"' % t.replace('"', '""') for t in terms)
        return [(i, -rank) for i, rank in storage.sql(
            'SELECT rowid, rank FROM %s WHERE %s MATCH ? ORDER BY rank LIMIT ?' % (FTS_TABLE, FTS_TABLE),
            (match, limit))]
    tsquery = ' || '.join(["phraseto_tsquery('english', ?)"] * len(terms))
    return list(storage.sql(
        "SELECT id, ts_rank_cd(to_tsvector('english', text), q) AS r FROM doc_chunk, (SELECT %s AS q) s "
        "WHERE to_tsvector('english', text) @@ q ORDER BY r DESC LIMIT ?" % tsquery, tuple(terms) + (limit,)))


FREQUENCY_CAP = 5000   # counting beyond this costs time and changes a word's weight little


def document_frequency(storage, term):
    """How many passages contain the term (at most FREQUENCY_CAP); an option as written."""
    if is_option(term):
        return token_frequency(storage, term, FREQUENCY_CAP)
    if storage.is_sqlite:
        return storage.sql('SELECT COUNT(*) FROM (SELECT rowid FROM %s WHERE %s MATCH ? LIMIT %d)' % (
            FTS_TABLE, FTS_TABLE, FREQUENCY_CAP), ('"%s"' % term.replace('"', '""'),)).fetchone()[0]
    return storage.sql("SELECT COUNT(*) FROM (SELECT 1 FROM doc_chunk WHERE to_tsvector('english', text) @@ "
                       "phraseto_tsquery('english', ?) LIMIT %d) s" % FREQUENCY_CAP, (term,)).fetchone()[0]


def index_chunks(storage, rows):
    """Add (chunk id, text) rows to the keyword index (PostgreSQL's GIN index keeps itself)."""
    if storage.is_sqlite and rows:
        storage.database.execute_sql('INSERT INTO %s (rowid, text) VALUES %s' % (
            FTS_TABLE, ','.join(['(?, ?)'] * len(rows))), [v for row in rows for v in row])


def unindex_document(storage, document_id):
    if storage.is_sqlite:
        storage.sql('DELETE FROM %s WHERE rowid IN (SELECT id FROM doc_chunk WHERE document_id = ?)' % FTS_TABLE,
                    (document_id,))


class VectorIndex:
    """Every chunk's vector of one database, as (sorted chunk ids, matrix), for one embedder."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, embedder.dim), dtype=np.float32)
        self.version = None
        self.lock = threading.Lock()

    def current(self, app):
        """(ids, matrix), reloaded if the documents changed since the last call."""
        storage = app.query
        version = tuple(storage.sql('SELECT COUNT(*), MAX(id), SUM(chunks) FROM document').fetchone())
        if version != self.version:
            with self.lock:
                if version != self.version:
                    self._reembed_stale(app)
                    self._load(storage)
                    self.version = version
        return self.ids, self.matrix

    def _load(self, storage):
        rows = storage.sql('SELECT id, vector FROM doc_chunk WHERE vector IS NOT NULL ORDER BY id').fetchall()
        width = self.embedder.dim * 4
        rows = [(i, v) for i, v in rows if len(v) == width]
        self.ids = np.fromiter((i for i, _ in rows), dtype=np.int64, count=len(rows))
        blob = b''.join(bytes(v) for _, v in rows)
        self.matrix = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), self.embedder.dim)

    def _reembed_stale(self, app, batch=512):
        """Documents embedded by another embedder (or before vectors were stored) get new vectors."""
        from .models import Chunk, Document
        stale = list(Document.select(Document.id).where(
            Document.embedder.is_null() | (Document.embedder != self.embedder.name)))
        for doc in stale:
            chunks = list(Chunk.select(Chunk.id, Chunk.section, Chunk.text).where(Chunk.document == doc.id)
                          .order_by(Chunk.id))
            with app.write_transaction():
                for i in range(0, len(chunks), batch):
                    part = chunks[i:i + batch]
                    vectors = self.embedder.embed([with_section(c.section, c.text) for c in part])
                    for c, v in zip(part, vectors):
                        Chunk.update(vector=v.tobytes()).where(Chunk.id == c.id).execute()
                Document.update(embedder=self.embedder.name).where(Document.id == doc.id).execute()

    def similarities(self, app, query_vector):
        """(ids, cosine similarity of every chunk to the query)."""
        ids, matrix = self.current(app)
        return ids, matrix @ query_vector


_indexes = {}
_indexes_lock = threading.Lock()


def vector_index(app, embedder):
    """This process's vector index of the app's database for this embedder."""
    key = (id(app), app.config.resolved_database_url, embedder.name)
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = VectorIndex(embedder)
        return _indexes[key]

