"""The document pipeline: uploads become searchable passages (the course's RAG ingest).

    from localq import documents
    documents.init_app(app)      # its tables, task, setting (embedder) and pages on this app

Modules, one concept each: extract (text from PDF, HTML, Markdown, .docx, text), chunk
(passages cut at paragraph and sentence boundaries), embed (wordllama, or the hashing
fallback), index (FTS5 / PostgreSQL full text, and the vector matrix), search (the two
fused, with floors), pipeline (the task; store, list, delete), uploads (checks before a
file is queued), models, web (its pages: upload, list, search, one document; imported only
when a web app is built). The queue core imports none of it, nor its dependencies (numpy,
wordllama, pypdf, resiliparse: the `localq[documents]` extra).
"""
from ..config import Setting
from ..plugins import NavLink, Plugin
from . import models
from .chunk import chunk_text, split
from .embed import get_embedder
from .extract import KINDS, InvalidDocument, extract, extract_text
from .models import MODELS, Chunk, Document
from .pipeline import (TASK, DocumentNotFound, delete_document, get_document, list_documents, original_file,
                       process_document, recent_uploads)
from .search import BadQuery, search
from .tokens import backfill_tokens


def prepare(db):
    """The tables' indexes and upgrades (models.py), then the exact-token index of passages
    stored before it existed (tokens.py, which needs the models: so it runs here, not in models)."""
    models.prepare(db)
    backfill_tokens(db)


PLUGIN = Plugin(
    'documents',
    settings=(Setting('embedder', 'wordllama', 'Document search model: wordllama (a real model, shipped in its '
                      'wheel) or hashing (a dependency-free fallback that matches shared words only).',
                      choices=('wordllama', 'hashing'), owner='documents'),),
    web='localq.documents.web:bp',
    nav=(NavLink('Upload', 'documents.upload_page', ('documents.upload_page',)),
         NavLink('Documents', 'documents.document_list', ('documents.document_list', 'documents.document_page'))))


def init_app(app):
    """Give a LocalQ app the pipeline: its tables (and keyword index), the task that runs it, its
    setting and its pages."""
    app.register_plugin(PLUGIN)
    app.register_models(*MODELS, prepare=prepare)
    if TASK not in app.tasks:
        app.task(name=TASK, bind=True, max_retries=3, autoretry_for=(ConnectionError,), retry_backoff=True,
                 time_limit=600, acks_late=True)(process_document)
    return app.tasks[TASK]


__all__ = ['init_app', 'TASK', 'KINDS', 'InvalidDocument', 'Document', 'Chunk', 'MODELS', 'DocumentNotFound',
           'BadQuery', 'search', 'split', 'chunk_text', 'extract', 'extract_text', 'get_embedder',
           'process_document', 'recent_uploads', 'delete_document', 'get_document', 'list_documents', 'original_file']
