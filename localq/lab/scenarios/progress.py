"""Progress: a document pipeline reports each step with update_state, and a client polling the
job row sees which step it is on."""
import time

from ... import documents
from ...states import TERMINAL
from ...tasks import app
from ..base import Observation, Scenario


@app.task(name='lab.process_document', bind=True, queue='lab', time_limit=600)
def process_document(self, text, step_seconds=0.5):
    """The seeds' pipeline on a text: extract, chunk, embed, store, reporting each step.

    meta keeps every step with its time, so the page can draw the steps a
    poll in between would have missed."""
    history = []

    def step(name, progress):
        history.append([name, progress, time.time()])
        self.update_state(state='PROCESSING', meta={'step': name, 'progress': progress, 'history': history})
        time.sleep(step_seconds)

    step('extracting', 20)
    step('chunking', 40)
    chunks = documents.chunk_text(text)
    step('embedding', 60)
    embeddings = documents.get_embedder(app.config.embedder).embed(chunks)
    step('storing', 80)
    return {'chunks': len(chunks), 'dimensions': int(embeddings.shape[1]), 'history': history}


SAMPLE_TEXT = ('Background jobs let a web request return at once while a worker does the slow part. '
               'The worker reports progress, so the page can show which step it is on. ') * 40


class Progress(Scenario):
    name = 'progress'
    title = 'Progress of a document pipeline'
    lesson = 'Lesson 13.11, self-assessment scenario 1 (extract, chunk, embed, store)'
    teaches = ('A long task can report the step it is on with update_state, so a client polling its status sees '
               'how far it has got instead of a bare "pending".')
    explain = ('One document goes through the four steps of the lessons\' pipeline. Before each step the task '
               'calls update_state(state="PROCESSING", meta={"step": ..., "progress": ...}); the page reads the '
               'job row as any client polling /tasks/<id> would. Each step pauses a moment so you can watch.')
    code = ('self.update_state(state="PROCESSING", meta={"step": "extracting", "progress": 20})\n'
            'text = extract_text(file_path)\n...\n'
            'self.update_state(state="PROCESSING", meta={"step": "storing", "progress": 80})')
    params = {'step_seconds': 0.75}

    def start(self, ctx):
        self.one_worker(ctx, concurrency=1)
        ctx.enqueue('lab.process_document', SAMPLE_TEXT, step_seconds=ctx.params['step_seconds'])

    def observe(self, ctx):
        jobs = ctx.jobs()
        if not jobs:
            return Observation(False, {}, ['Starting a worker...'])
        job = jobs[0]
        history = (job['result'] or {}).get('history') or (job['meta'] or {}).get('history') or []
        progress = 100 if job['state'] == 'SUCCESS' else (job['meta'] or {}).get('progress', 0)
        step = 'done' if job['state'] == 'SUCCESS' else (job['meta'] or {}).get('step', 'waiting for a worker')
        data = {'state': job['state'], 'progress': progress, 'steps': [[h[0], h[1]] for h in history]}
        lines = ['State %s, step "%s", %d%%.' % (job['state'], step, progress)]
        if history:
            lines.append('Steps reported so far: %s.' % ', '.join('%s %d%%' % (h[0], h[1]) for h in history))
        if job['state'] == 'SUCCESS':
            lines.append('Stored %d chunks; the whole pipeline took %.1f s.'
                         % (job['result']['chunks'], job['finished_at'] - job['started_at']))
        rows = [[name, '%d%%' % pct, '+%.2f s' % (at - job['started_at'])] for name, pct, at in history]
        return Observation(job['state'] in TERMINAL, data, lines,
                           tables=[('Steps reported', ['step', 'progress', 'at'], rows)])
