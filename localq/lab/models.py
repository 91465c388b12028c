"""The lab's own rows: one LabRun per scenario run, and the app data its demo tasks write."""
import peewee as pw

from ..models import BaseModel


class LabRun(BaseModel):
    """The latest run of a scenario: its parameters and what the runner measured itself."""
    scenario = pw.CharField(max_length=50, unique=True)
    started_at = pw.DoubleField()
    params = pw.TextField(default='{}')   # JSON
    notes = pw.TextField(default='{}')    # JSON: figures measured outside the job rows, runner errors
    done_at = pw.DoubleField(null=True)   # when it had shown what it shows (the lab index reads this)

    class Meta:
        table_name = 'lab_run'


class LabOrder(BaseModel):
    """An order row written by the idempotency scenario's tasks (the seeds' Order model)."""
    variant = pw.CharField(max_length=20)          # naive | idempotent
    order_id = pw.CharField(max_length=64, null=True)
    user_id = pw.CharField(max_length=64)
    product_id = pw.CharField(max_length=64)
    created_at = pw.DoubleField()

    class Meta:
        table_name = 'lab_order'


class LabAlert(BaseModel):
    """An alert raised by a task (the error-strategies scenario's 401/403 row)."""
    job_id = pw.CharField(max_length=64)
    message = pw.TextField()
    created_at = pw.DoubleField()

    class Meta:
        table_name = 'lab_alert'


MODELS = [LabRun, LabOrder, LabAlert]
