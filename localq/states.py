"""Job states, spelled as Celery users already compare them, and the allowed moves."""

PENDING = 'PENDING'      # queued, waiting for a worker (also: scheduled for later)
STARTED = 'STARTED'      # a worker claimed it and runs it
RETRY = 'RETRY'          # an attempt failed; the next one waits for its eta
SUCCESS = 'SUCCESS'
FAILURE = 'FAILURE'
REVOKED = 'REVOKED'      # cancelled before or while running; never runs again
# A workflow member (a chain's later step, a chord's body, a link) waiting for its parent
# job(s) to succeed: not claimable. AsyncResult reads it as PENDING, as Celery would.
WAITING = 'WAITING'

# A task may report its own states (e.g. PROCESSING) through update_state();
# they count as running, like STARTED.
READY_TO_CLAIM = (PENDING, RETRY)
NOT_STARTED = READY_TO_CLAIM + (WAITING,)

# Finished for good: nothing will ever run this job again unless a user
# re-queues it explicitly (dead letters).
TERMINAL = frozenset({SUCCESS, FAILURE, REVOKED})

BUILTIN = (WAITING, PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED)

# state -> states it may move to. Custom progress states behave like STARTED.
TRANSITIONS = {
    WAITING: {PENDING, REVOKED},
    PENDING: {STARTED, REVOKED},
    RETRY: {STARTED, REVOKED},
    STARTED: {'<custom>', PENDING, RETRY, SUCCESS, FAILURE, REVOKED},
    '<custom>': {'<custom>', PENDING, RETRY, SUCCESS, FAILURE, REVOKED},
    FAILURE: {PENDING},            # re-queued dead letter
    REVOKED: {PENDING, WAITING},   # re-queued by a user (a workflow member waits again for its parent)
    SUCCESS: set(),
}


def is_running(state):
    """True for STARTED and any custom progress state a task reported."""
    return state not in TERMINAL and state not in NOT_STARTED


def is_ready(state):
    """Celery's ready(): the job has finished one way or another."""
    return state in TERMINAL


def celery_state(state):
    """The state as Celery's AsyncResult would report it (a waiting workflow member is PENDING)."""
    return PENDING if state == WAITING else state

# The same sets as SQL predicates on job.state, for the fixed queries.
SQL_CLAIMABLE = "state IN ('PENDING', 'RETRY')"
SQL_RUNNING = "state NOT IN ('PENDING', 'RETRY', 'WAITING', 'SUCCESS', 'FAILURE', 'REVOKED')"
