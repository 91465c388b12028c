"""Exact tokens: options, identifiers and error codes found as written, beside the words.

The word index (FTS5's unicode61, PostgreSQL's english parser) reads `-k` as the letter k,
`--gzip` as gzip and `os.path.join` as three words, so `tar -z` missed the `-z, --gzip`
passage and `q=-k` found nothing. Each passage's code-like tokens go into `doc_chunk_token`
(token, chunk id) as written; a query's code-like tokens are looked up there, exactly (case
kept: tar's -k and -K differ).
"""
import re

from .models import Chunk, ChunkToken

# Command-line options (-k, --gzip, --no-color), dotted or called identifiers (os.path.join,
# os.path.join(), match()), snake_case and camelCase names (workFactor), and upper-case codes
# (EADDRINUSE, SIGTERM, BZ_DATA_ERROR).
CODE_TOKEN = re.compile(r"""(?<![\w\-.])--?[A-Za-z][\w\-]*(?:=\w+)?(?![\w\-])
                          |(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?
                          |(?<![\w.])[A-Za-z_]\w*\(\)
                          |(?<![\w.])[A-Za-z]\w*_\w+
                          |\b[a-z]+[A-Z][A-Za-z0-9]*\b
                          |\b[A-Z][A-Z0-9_]{3,}\b""", re.X)
MAX_TOKEN = 100
BATCH = 500


def code_tokens(text):
    """The code-like tokens of a text, as written, each once (a call's () left off)."""
    seen = []
    for m in CODE_TOKEN.finditer(text):
        token = m.group().removesuffix('()').split('=', 1)[0]
        if len(token) <= MAX_TOKEN and token not in seen:
            seen.append(token)
    return seen


def is_option(term):
    return term.startswith('-')


def index_tokens(storage, rows):
    """Add (chunk id, text) rows' tokens."""
    pairs = [{'token': t, 'chunk': chunk_id} for chunk_id, text in rows for t in code_tokens(text)]
    for i in range(0, len(pairs), BATCH):
        ChunkToken.insert_many(pairs[i:i + BATCH]).on_conflict_ignore().execute()


def token_matches(storage, token, limit):
    """Chunk ids whose passage has the token as written."""
    return [r[0] for r in storage.sql('SELECT chunk_id FROM doc_chunk_token WHERE token = ? LIMIT ?', (token, limit))]


def token_frequency(storage, token, cap):
    return storage.sql('SELECT COUNT(*) FROM (SELECT 1 FROM doc_chunk_token WHERE token = ? LIMIT %d) s' % cap,
                       (token,)).fetchone()[0]


def backfill_tokens(db):
    """Passages stored before the token table: their tokens, once (while the table is empty)."""
    if ChunkToken.select().limit(1).exists() or not Chunk.select().limit(1).exists():
        return
    with db.atomic():
        last = 0
        while True:
            rows = list(Chunk.select(Chunk.id, Chunk.text).where(Chunk.id > last).order_by(Chunk.id).limit(BATCH).tuples())
            if not rows:
                break
            index_tokens(None, rows)
            last = rows[-1][0]
