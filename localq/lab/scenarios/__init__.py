"""The lab's scenarios, one module per pattern of the course material, in the lab's order.

Each module holds its demo tasks, then its Scenario (see base.Scenario). The tasks
are declared on localq's default app, re-exported here as `app`, so the lab's worker
processes run them with `localq -A localq.lab.scenarios:app worker`. Each task stands
for the kind of work a lesson talks about (a 50 ms query, a flaky remote API, a leaking
worker). Failures are real exceptions raised on purpose, never mocks. Lab jobs go to
queues named lab.<scenario>, which only the lab's own worker processes serve, so the
lab never slows the app's jobs.
"""
from ...tasks import app

# In the lab's order, which is also the order their tasks are declared in.
from .request_or_queue import RequestOrQueue
from .progress import Progress
from .retry import RetryBackoff
from .errors import ErrorStrategies
from .rate_limit import RateLimit
from .time_limit import TimeLimit
from .crash import CrashSurvival
from .idempotency import Idempotency
from .priority import PriorityQueues
from .batching import Batching
from .scaling import ScalingWorkers
from .payloads import LargePayloads
from .recycling import WorkerRecycling
from .periodic import PeriodicTasks

__all__ = ['ALL', 'app', 'Batching', 'CrashSurvival', 'ErrorStrategies', 'Idempotency', 'LargePayloads',
           'PeriodicTasks', 'PriorityQueues', 'Progress', 'RateLimit', 'RequestOrQueue', 'RetryBackoff',
           'ScalingWorkers', 'TimeLimit', 'WorkerRecycling']

ALL = [RequestOrQueue(), Progress(), RetryBackoff(), ErrorStrategies(), RateLimit(), TimeLimit(), CrashSurvival(),
       Idempotency(), PriorityQueues(), Batching(), ScalingWorkers(), LargePayloads(), WorkerRecycling(),
       PeriodicTasks()]
