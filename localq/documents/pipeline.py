"""The course's document pipeline as a task (extract, chunk, embed, store), and the stored
documents' life: list, read, delete. Framework-free: the web layer calls these."""
import hashlib
import json
import os
import time

from .. import states
from ..errors import LocalqError
from ..models import Job
from .chunk import split, with_section
from .embed import get_embedder
from .extract import KINDS, InvalidDocument, extract
from .index import index_chunks, unindex_document
from .models import Chunk, Document
from .tokens import index_tokens

TASK = 'documents.process'
INSERT_BATCH = 200
EMBED_BATCH = 256       # passages embedded between two progress reports
RECENT_UPLOADS = 20


class DocumentNotFound(LocalqError, KeyError):
    """Raised when a document id names no stored document."""

    def __str__(self):
        return 'no document with id %r' % (self.args[0] if self.args else None)


def stored_path(app, stored_name):
    """The path of a stored upload, refusing any name that would leave the upload folder."""
    folder = os.path.abspath(app.config.upload_dir)
    path = os.path.abspath(os.path.join(folder, stored_name or ''))
    if os.path.dirname(path) != folder:
        raise InvalidDocument('not a stored upload: %r' % stored_name)
    return path


def process_document(self, stored_name, filename, user_id=''):
    """Extract, chunk, embed and store an upload, reporting each step (the course's solution)."""
    app = self.app
    path = stored_path(app, stored_name)
    kind = KINDS.get(os.path.splitext(stored_name)[1].lower())
    if kind is None:
        raise InvalidDocument('unsupported file type: %r' % filename)
    # The same file stored already is found before the costly steps (a 40 MB text took minutes
    # of embedding only to be found a duplicate at the end); store_document checks again, for
    # two copies processed at once.
    self.update_state(state='PROCESSING', meta={'step': 'checking', 'progress': 5})
    digest = content_hash(path)
    stored = Document.get_or_none(Document.content_hash == digest)
    if stored is not None:
        return _outcome(path, stored_name, stored, created=False)
    self.update_state(state='PROCESSING', meta={'step': 'extracting', 'progress': 10})
    extracted = extract(path, kind)
    self.update_state(state='PROCESSING', meta={'step': 'chunking', 'progress': 30})
    pieces = split(extracted.text)
    embedder = get_embedder(app.config.embedder)
    vectors = []
    # Embedding is the long step: it reports each batch, so the bar moves from 35% to 85%.
    for i in range(0, len(pieces), EMBED_BATCH):
        self.update_state(state='PROCESSING', meta={'step': 'embedding', 'progress': 35 + 50 * i // len(pieces),
                                                    'done': i, 'total': len(pieces)})
        vectors.extend(embedder.embed(passage_texts(extracted, pieces[i:i + EMBED_BATCH])))
    self.update_state(state='PROCESSING', meta={'step': 'storing', 'progress': 85})
    doc, created = store_document(app, digest, filename, stored_name, kind, extracted, pieces, vectors,
                                  embedder.name, user_id, self.request.id)
    return _outcome(path, stored_name, doc, created)


def _outcome(path, stored_name, doc, created):
    if not created and doc.stored_name and doc.stored_name != stored_name:
        os.unlink(path)   # the same content is stored already: keep one copy of the file
    return {'document_id': doc.id, 'chunks': doc.chunks, 'pages': doc.pages, 'duplicate': not created,
            'message': 'stored %d chunk%s' % (doc.chunks, '' if doc.chunks == 1 else 's') if created else
            'already stored as document %d (same content): nothing added' % doc.id}


def passage_texts(extracted, pieces):
    return [with_section(extracted.section_at(p.start), p.text) for p in pieces]


def content_hash(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def store_document(app, digest, filename, stored_name, kind, extracted, pieces, vectors, embedder_name,
                   user_id='', job_id=None):
    """get_or_create by content hash (the same file twice makes no duplicate); its chunks, vectors and
    keyword-index entries in the same transaction. Returns (document, created)."""
    # Read-then-insert: take the write lock first, or two uploads stored at once
    # make one fail with "database is locked" on SQLite.
    with app.write_transaction():
        doc, created = Document.get_or_create(content_hash=digest, defaults=dict(
            filename=filename, stored_name=stored_name, kind=kind, user_id=user_id,
            characters=len(extracted.text), pages=len(extracted.pages) or None, chunks=len(pieces),
            embedder=embedder_name, job_id=job_id, created_at=time.time()))
        if created:
            rows = [dict(document=doc, number=n, text=p.text, start=p.start, page=extracted.page_at(p.start),
                         section=extracted.section_at(p.start), vector=v.tobytes())
                    for n, (p, v) in enumerate(zip(pieces, vectors))]
            for i in range(0, len(rows), INSERT_BATCH):
                Chunk.insert_many(rows[i:i + INSERT_BATCH]).execute()
            stored = [(c.id, with_section(c.section, c.text)) for c in
                      Chunk.select(Chunk.id, Chunk.section, Chunk.text).where(Chunk.document == doc)]
            index_chunks(app.query, stored)
            index_tokens(app.query, stored)
    return doc, created


def document_to_dict(doc):
    return {'id': doc.id, 'filename': doc.filename, 'kind': doc.kind, 'characters': doc.characters,
            'pages': doc.pages, 'chunks': doc.chunks, 'job_id': doc.job_id, 'user_id': doc.user_id,
            'created_at': doc.created_at, 'has_file': bool(doc.stored_name)}


def list_documents(app):
    """Every stored document, newest first."""
    return [document_to_dict(d) for d in Document.select().order_by(Document.created_at.desc(), Document.id.desc())]


def get_document(app, document_id, with_chunks=False):
    """A stored document as a dict (with its passages if asked); raises DocumentNotFound."""
    doc = Document.get_or_none(Document.id == document_id)
    if doc is None:
        raise DocumentNotFound(document_id)
    d = document_to_dict(doc)
    if with_chunks:
        d['passages'] = [{'id': c.id, 'number': c.number, 'page': c.page, 'section': c.section, 'text': c.text}
                         for c in Chunk.select(Chunk.id, Chunk.number, Chunk.page, Chunk.section, Chunk.text)
                           .where(Chunk.document == doc).order_by(Chunk.number)]
    return d


def original_file(app, document_id):
    """(path, download name) of a document's uploaded file; DocumentNotFound if it has none."""
    doc = Document.get_or_none(Document.id == document_id)
    if doc is None or not doc.stored_name:
        raise DocumentNotFound(document_id)
    path = stored_path(app, doc.stored_name)
    if not os.path.exists(path):
        raise DocumentNotFound(document_id)
    return path, doc.filename


def delete_document(app, document_id):
    """Delete a document: its rows, vectors, keyword-index entries and its stored file."""
    doc = Document.get_or_none(Document.id == document_id)
    if doc is None:
        raise DocumentNotFound(document_id)
    with app.write_transaction():
        unindex_document(app.query, doc.id)
        Chunk.delete().where(Chunk.document == doc.id).execute()
        Document.delete().where(Document.id == doc.id).execute()
    if doc.stored_name:
        try:
            os.unlink(stored_path(app, doc.stored_name))
        except FileNotFoundError:
            pass
    return document_to_dict(doc)


def recent_uploads(app, limit=RECENT_UPLOADS):
    """The latest document jobs, newest first, each as the status endpoint (GET /tasks/<id>)
    answers plus the file's name: the upload page lists them again after a reload."""
    rows = (Job.select(Job.id, Job.args, Job.kwargs, Job.state, Job.meta, Job.result, Job.error_message)
            .where(Job.task == TASK).order_by(Job.queued_at.desc()).limit(limit))   # index (task, queued_at)
    uploads = []
    for job in rows:
        args, kwargs = json.loads(job.args or '[]'), json.loads(job.kwargs or '{}')
        filename = kwargs.get('filename') or (args[1] if len(args) > 1 else '?')   # the upload page names it
        uploads.append({'task_id': job.id, 'filename': filename, 'status': job.state,
                        'progress': json.loads(job.meta) if job.meta else None,
                        'result': json.loads(job.result) if job.state == states.SUCCESS and job.result else None,
                        'error': job.error_message if job.state == states.FAILURE else None})
    return uploads
