"""The documents plug-in's pages, for people and scripts: upload, the list with search, one
document, its file, delete. Mounted by the web app (localq.web) inside localq's blueprint, only
for an app that called documents.init_app: nothing in localq.web imports it."""
import os

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, send_file,
                   url_for)

from .. import documents
from ..web import error_response
from .search import MAX_LIMIT
from .uploads import UploadRejected, save_upload

bp = Blueprint('documents', __name__)
bp.register_error_handler(documents.DocumentNotFound, lambda exc: error_response(404, str(exc)))


def localq_app():
    return current_app.extensions['localq']


def _limit(default=5):
    try:
        return int(request.args.get('limit', default))
    except ValueError:
        abort(400, description='limit must be a whole number from 1 to %d' % MAX_LIMIT)


def _search(query, limit):
    try:
        hits = documents.search(localq_app(), query, limit=limit)
    except documents.BadQuery as exc:
        abort(400, description=str(exc))
    for hit in hits:
        hit['url'] = url_for('localq.documents.document_page', document_id=hit['document_id'],
                             _anchor='chunk-%d' % hit['number'])
    return hits


# -- pages ---------------------------------------------------------------------------
@bp.get('/upload')
def upload_page():
    """Choose or drop files; each becomes a document job with a live progress bar."""
    return render_template('localq/upload.html', max_mb=localq_app().config.max_upload_mb)


@bp.post('/upload')
def upload():
    """Save each uploaded file and queue a document job for it.

    curl -F file=@report.pdf http://127.0.0.1:8000/upload
    -> 202 {"task_id": "...", "jobs": [{"task_id": "...", "filename": "report.pdf"}]}
    Bad files -> 400 {"ok": false, "error": "...", "status": 400} (413 for one over the limit);
    nothing is stored or queued.
    """
    app = localq_app()
    task = app.tasks[documents.TASK]
    files = request.files.getlist('file')
    if not files:
        abort(400, description='no file in the request (send it as form field "file")')
    stored = []
    try:
        for f in files:
            name, size = save_upload(f.stream, f.filename, app.config.upload_dir,
                                     app.config.max_upload_mb * 1024 * 1024)
            stored.append((name, f.filename, size))
    except UploadRejected as exc:
        for name, _, _ in stored:
            os.unlink(os.path.join(app.config.upload_dir, name))
        abort(exc.status, description=str(exc))
    finally:
        for f in files:
            f.close()  # werkzeug's spooled temp files, at once rather than at GC
    queued = []
    for name, filename, size in stored:
        # By keyword, the uploaded name first: the job list shows the call as written.
        result = task.apply_async(kwargs={'filename': filename, 'stored_name': name,
                                          'user_id': request.form.get('user_id', '')})
        queued.append({'task_id': result.id, 'filename': filename, 'bytes': size})
    return jsonify(task_id=queued[0]['task_id'], jobs=queued), 202


@bp.get('/documents')
def document_list():
    """Every stored document, and a search over all of them (?q=words&limit=5)."""
    query = request.args.get('q', '').strip()
    hits = _search(query, _limit()) if query else None
    return render_template('localq/documents.html', docs=documents.list_documents(localq_app()), q=query, hits=hits)


@bp.get('/documents/<int:document_id>')
def document_page(document_id):
    """One document: its passages (as searched), the job that stored it, its file."""
    doc = documents.get_document(localq_app(), document_id, with_chunks=True)
    return render_template('localq/document.html', doc=doc)


@bp.get('/documents/<int:document_id>/file')
def document_file(document_id):
    """The file as it was uploaded, under its original name."""
    path, name = documents.original_file(localq_app(), document_id)
    return send_file(path, as_attachment=True, download_name=name)


@bp.post('/documents/<int:document_id>/delete')
def delete_page(document_id):
    doc = documents.delete_document(localq_app(), document_id)
    flash('Deleted %s (%d passages).' % (doc['filename'], doc['chunks']))
    return redirect(url_for('localq.documents.document_list'))


# -- JSON ----------------------------------------------------------------------------
@bp.get('/api/documents/search')
def search_api():
    """Passages that answer a question, best first; none if nothing is relevant.

    GET /api/documents/search?q=refund+policy&limit=5
    -> {"query": ..., "matches": [{"document", "document_id", "number", "page", "text", "highlights": [[s, e]],
        "score", "similarity", "keyword", "url"}]}"""
    return jsonify(query=request.args.get('q', '').strip(),
                   matches=_search(request.args.get('q', ''), _limit()))


@bp.get('/api/documents')
def list_api():
    """GET /api/documents -> {"documents": [{"id", "filename", "kind", "pages", "chunks", ...}]}"""
    return jsonify(documents=documents.list_documents(localq_app()))


@bp.get('/api/documents/uploads')
def uploads_api():
    """The latest document jobs, newest first (what the upload page shows again after a reload):
    GET /api/documents/uploads -> {"uploads": [{"task_id", "filename", "status", "progress", "result", "error"}]}"""
    return jsonify(uploads=documents.recent_uploads(localq_app()))


@bp.get('/api/documents/<int:document_id>')
def get_api(document_id):
    """One document with its passages: GET /api/documents/3 -> {..., "passages": [{"id", "number", "page",
    "text"}]} (the key was "chunk_rows" before; the README always called them passages)"""
    return jsonify(documents.get_document(localq_app(), document_id, with_chunks=True))


@bp.delete('/api/documents/<int:document_id>')
def delete_api(document_id):
    """Delete a document (rows, vectors, index entries, file): -> {"ok": true, "deleted": {...}}"""
    return jsonify(ok=True, deleted=documents.delete_document(localq_app(), document_id))
