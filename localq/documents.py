"""The document pipeline of the course's solution: extract, chunk, embed, store; and search.

Framework-free: the upload view saves a file and queues `process_document`;
this module does the work and owns the Document and Chunk rows.
"""
import hashlib
import html.parser
import json
import math
import re

import peewee as pw

from .models import BaseModel

EMBEDDING_DIM = 256
KINDS = {'.txt': 'text', '.md': 'text', '.markdown': 'text', '.html': 'html', '.htm': 'html', '.pdf': 'pdf'}


class InvalidDocument(ValueError):
    """Raised when a file cannot be read as the type it claims: the job fails, no retry."""


class Document(BaseModel):
    content_hash = pw.CharField(max_length=64, unique=True)
    filename = pw.CharField(max_length=255)
    kind = pw.CharField(max_length=10)
    user_id = pw.CharField(max_length=100, default='')
    characters = pw.IntegerField()
    created_at = pw.DoubleField()

    class Meta:
        table_name = 'document'


class Chunk(BaseModel):
    document = pw.ForeignKeyField(Document, backref='chunks', on_delete='CASCADE')
    number = pw.IntegerField()
    text = pw.TextField()
    embedding = pw.TextField()   # JSON list of floats

    class Meta:
        table_name = 'chunk'
        indexes = ((('document', 'number'), True),)


MODELS = [Document, Chunk]


class _TextOnly(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ('script', 'style'):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ('script', 'style') and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def extract_text(path, kind):
    """The text of a stored upload; InvalidDocument if it is not what it claims."""
    if kind == 'pdf':
        import pypdf
        try:
            reader = pypdf.PdfReader(path)
            text = '\n'.join(page.extract_text() or '' for page in reader.pages)
        except Exception as exc:  # pypdf raises many types for broken files
            raise InvalidDocument('not a readable PDF: %s' % exc) from None
    else:
        with open(path, 'rb') as fh:
            raw = fh.read()
        if b'\x00' in raw:
            raise InvalidDocument('binary data in a %s file' % kind)
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError:
            raise InvalidDocument('not UTF-8 text') from None
        if kind == 'html':
            parser = _TextOnly()
            parser.feed(text)
            text = ' '.join(parser.parts)
    text = re.sub(r'[ \t]+', ' ', text).strip()
    if not text:
        raise InvalidDocument('the file has no text')
    return text


def chunk_text(text, size=500, overlap=100):
    """Overlapping windows of about `size` characters, cut at spaces where possible."""
    if overlap >= size:
        raise ValueError('overlap must be smaller than size')
    chunks, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(' ', start + size // 2, end)
            end = space if space > start else end
        chunks.append(text[start:end].strip())
        if end >= len(text):
            break
        # Overlap by about `overlap` characters, starting at a word boundary.
        next_start = max(end - overlap, start + 1)
        space = text.find(' ', next_start, end)
        start = space + 1 if space != -1 else next_start
    return [c for c in chunks if c]


def _tokens(text):
    return re.findall(r'\w+', text.lower())


def embed(text):
    """A local embedding that needs no download: hashed word counts, L2-normalised.

    Pluggable: replace this function (same signature) with a model's encoder."""
    vector = [0.0] * EMBEDDING_DIM
    for token in _tokens(text):
        h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), 'little')
        vector[h % EMBEDDING_DIM] += 1.0 if (h >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 5) for v in vector]


def content_hash(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def store_document(digest, filename, kind, text, chunks, embeddings, user_id, now):
    """get_or_create by content hash: the same file twice makes no duplicate. Returns (doc, created)."""
    from .db import database, write_transaction
    # Read-then-insert: take the write lock first, or two uploads stored at once
    # make one fail with "database is locked" on SQLite.
    with write_transaction(database.obj):
        doc, created = Document.get_or_create(content_hash=digest, defaults=dict(
            filename=filename, kind=kind, user_id=user_id, characters=len(text), created_at=now))
        if created:
            Chunk.insert_many([dict(document=doc, number=i, text=c, embedding=json.dumps(e))
                               for i, (c, e) in enumerate(zip(chunks, embeddings))]).execute()
    return doc, created


def search(query, limit=5):
    """The stored chunks most similar to the query (cosine on the embeddings)."""
    q = embed(query)
    scored = []
    for chunk in Chunk.select(Chunk, Document).join(Document).iterator():
        vector = json.loads(chunk.embedding)
        scored.append((sum(a * b for a, b in zip(q, vector)), chunk))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return [{'score': round(score, 3), 'document': c.document.filename, 'document_id': c.document.id,
             'number': c.number, 'text': c.text} for score, c in scored[:limit] if score > 0]
