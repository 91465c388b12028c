"""The course's snippets (shared/seeds, lessons 13.10 and 13.11) with only the import changed.

Helpers the lessons leave to the reader (risky_operation, extract_text, ...)
are defined above the snippets, small and real.
"""
from localq import LocalQ as Celery
from localq import AsyncResult  # was: from celery.result import AsyncResult

app = Celery('seeds')

# -- helpers the lessons assume ------------------------------------------------
calls = {}


class TempError(Exception):
    pass


class EmbeddingAPIError(Exception):
    pass


def risky_operation():
    calls['risky'] = calls.get('risky', 0) + 1
    if calls['risky'] < 2:
        raise TempError('try again')


def extract_text(file_path):
    with open(file_path) as fh:
        return fh.read()


def chunk_text(text, size=20):
    return [text[i:i + size] for i in range(0, len(text), size)]


def get_embeddings(chunks):
    return [[float(len(c))] for c in chunks]


def store_document(chunks, embeddings, user_id):
    return 'doc-%s-%d' % (user_id, len(chunks))


# -- Lesson 13.10, "Task Definition" --------------------------------------------
@app.task(
    name="explicit.name",      # Stable name
    bind=True,                  # Access self
    max_retries=3,              # Retry limit
    autoretry_for=(ConnectionError,),     # Auto-retry exceptions
    retry_backoff=True,         # Exponential backoff
    time_limit=300,             # Hard timeout
    acks_late=True              # Reliable delivery
)
def my_task(self, arg1, arg2):
    self.update_state(state="PROCESSING", meta={"progress": 50})
    result = arg1 + arg2
    return result


# -- Lesson 13.10, "Manual retry" -------------------------------------------------
@app.task(bind=True, max_retries=3)
def manual_retry_task(self):
    try:
        risky_operation()
    except TempError as e:
        self.retry(exc=e, countdown=0.05)   # the lesson waits 60 s; a test cannot
    return 'recovered'


# -- Lesson 13.11, "Production Task" ----------------------------------------------
@app.task(
    name="tasks.robust",
    bind=True,
    max_retries=3,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    time_limit=300,
    acks_late=True
)
def robust_task(self, file_path: str) -> dict:
    self.update_state(state="PROCESSING", meta={"progress": 0})
    # ... work ...
    return {"status": "done"}


# -- Lesson 13.11, "Scenario 1: Document Processing Pipeline" (solution) ------------
@app.task(
    name="documents.process",
    bind=True,
    max_retries=3,
    autoretry_for=(EmbeddingAPIError,),
    retry_backoff=True,
    time_limit=600
)
def process_document(self, file_path: str, user_id: str) -> dict:
    # Step 1: Extract
    self.update_state(state="PROCESSING", meta={"step": "extracting", "progress": 20})
    text = extract_text(file_path)

    # Step 2: Chunk
    self.update_state(state="PROCESSING", meta={"step": "chunking", "progress": 40})
    chunks = chunk_text(text)

    # Step 3: Embed (may retry)
    self.update_state(state="PROCESSING", meta={"step": "embedding", "progress": 60})
    embeddings = get_embeddings(chunks)

    # Step 4: Store
    self.update_state(state="PROCESSING", meta={"step": "storing", "progress": 80})
    doc_id = store_document(chunks, embeddings, user_id)

    return {"document_id": doc_id, "chunks": len(chunks)}


# -- Lesson 13.11, "Basic Task" ----------------------------------------------------
@app.task(name="tasks.simple")
def simple_task(arg: str) -> dict:
    return {"result": arg}


# -- Lesson 13.11, "Checking Results" (as a function the test calls) ------------
def check(task_id):
    result = AsyncResult(task_id)

    if result.status == "PROCESSING":
        return f"Progress: {result.info}"
    elif result.status == "SUCCESS":
        return f"Done: {result.result}"
    elif result.status == "FAILURE":
        return f"Failed: {result.result}"
    return result.status
