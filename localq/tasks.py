"""localq's own app and tasks: what `python run.py` serves when no -A app is given."""
import time

from . import documents
from .app import LocalQ

app = LocalQ('localq')
app.register_models(*documents.MODELS)


@app.task(name='localq.add')
def add(x, y):
    """Add two numbers (the smallest useful job)."""
    return x + y


@app.task(name='localq.sleep', bind=True, time_limit=3600)
def sleep(self, seconds=1.0, steps=10):
    """Sleep in steps, reporting progress: a stand-in for slow work."""
    for i in range(steps):
        self.update_state(state='PROCESSING', meta={'step': i + 1, 'progress': int(100 * i / steps)})
        time.sleep(seconds / steps)
    return {'slept': seconds}


@app.task(name='documents.process', bind=True, max_retries=3, autoretry_for=(ConnectionError,),
          retry_backoff=True, time_limit=600, acks_late=True)
def process_document(self, stored_name, filename, user_id=''):
    """Extract, chunk, embed and store an upload, reporting each step (the course's solution)."""
    import os

    upload_dir = os.path.abspath(self.app.config.upload_dir)
    path = os.path.abspath(os.path.join(upload_dir, stored_name))
    if os.path.dirname(path) != upload_dir:
        raise documents.InvalidDocument('not a stored upload: %r' % stored_name)
    kind = documents.KINDS.get(os.path.splitext(stored_name)[1].lower())
    if kind is None:
        raise documents.InvalidDocument('unsupported file type: %r' % filename)

    self.update_state(state='PROCESSING', meta={'step': 'extracting', 'progress': 20})
    text = documents.extract_text(path, kind)
    self.update_state(state='PROCESSING', meta={'step': 'chunking', 'progress': 40})
    chunks = documents.chunk_text(text)
    self.update_state(state='PROCESSING', meta={'step': 'embedding', 'progress': 60})
    embeddings = [documents.embed(c) for c in chunks]
    self.update_state(state='PROCESSING', meta={'step': 'storing', 'progress': 80})
    doc, created = documents.store_document(documents.content_hash(path), filename, kind, text, chunks,
                                            embeddings, user_id, time.time())
    return {'document_id': doc.id, 'chunks': len(chunks), 'duplicate': not created,
            'message': 'stored %d chunk%s' % (len(chunks), '' if len(chunks) == 1 else 's') if created else
            'already stored as document %d (same content): nothing added' % doc.id}

# The classroom lab's demo tasks (queues lab.*, served only by the lab's workers)
# are declared on this app when their module is imported.
__import__('localq.lab.tasks')
