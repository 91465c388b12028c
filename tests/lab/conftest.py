import pytest

from tests.conftest import TEST_DATABASE_URL


@pytest.fixture
def lab(tmp_path):
    """The lab of localq's default app on a fresh data folder; its workers are real processes.

    lab_speed=30 makes the rate limit 300/min, so thirty calls take 6 s, not 3 minutes."""
    from localq.lab import Lab
    from localq.tasks import app
    app.configure(data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL, lab_speed=30.0)
    lab = Lab(app)
    run = lab.run

    def run_without_error(name, *args, **kwargs):
        # A run that stopped with an error also ends "done"; say which error, not a later KeyError
        obs = run(name, *args, **kwargs)
        error = lab.context(name).notes.get('error')
        assert not error, 'the %s run stopped with an error: %s' % (name, error)
        return obs
    lab.run = run_without_error
    yield lab
    lab.shutdown()
    app.close()
