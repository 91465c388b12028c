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
SQL_ORDER = (PENDING, RETRY, WAITING, SUCCESS, FAILURE, REVOKED, STARTED)

# A task's own progress states (PROCESSING, ...) in the transition table: they behave like STARTED.
CUSTOM = '<custom>'
RUNNING = frozenset({STARTED, CUSTOM})

# state -> states it may move to: the one statement of the lifecycle. lifecycle.py declares
# each move it makes with its source and target states, checked against this table when it
# is imported, and writes its SQL's state condition from the move's sources (where()).
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


def allowed(source, target):
    """May a job in state `source` move to `target`? Custom states count as CUSTOM."""
    as_table = lambda s: s if s in TRANSITIONS else CUSTOM   # noqa: E731
    return as_table(target) in TRANSITIONS[as_table(source)]


def where(sources, column='state'):
    """The SQL condition on job.state that holds for exactly these states (CUSTOM: any custom state)."""
    sources = set(sources)
    unknown = sources - set(TRANSITIONS)
    if unknown:
        raise ValueError('not states of the transition table: %s' % ', '.join(sorted(unknown)))
    # In SQL_ORDER: the partial indexes' conditions (models.py) were written with these strings,
    # and SQLite uses such an index only for a query whose condition reads the same.
    named = [s for s in SQL_ORDER if s in sources]
    if CUSTOM not in sources:
        return '%s IN (%s)' % (column, ', '.join("'%s'" % s for s in named)) if named else '1 = 0'
    others = [s for s in SQL_ORDER if s not in sources]
    return '%s NOT IN (%s)' % (column, ', '.join("'%s'" % s for s in others)) if others else '1 = 1'


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
SQL_CLAIMABLE = where(READY_TO_CLAIM)
SQL_RUNNING = where(RUNNING)
