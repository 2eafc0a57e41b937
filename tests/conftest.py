"""Shared fixtures: a real app on a real database, the Graph API simulator as a
real HTTP server, an S3 endpoint (moto's server) for the media-storage tests,
a live server Meta's (simulated) crawler can fetch from,
helpers to log in through the real login code, and the SMTP server and HTTP
receiver the notification tests deliver to.
"""

from __future__ import annotations

import pytest
from notify_servers import Receiver
from notify_servers import smtp_server

import simulator
from app import create_app
from models import User
from models import db
from ospost.reels import conversions
from ospost.scheduler import publisher
from pgserver import PostgresServer
from support import AuthActions
from support import S3Endpoint
from support import serve_app

BACKENDS = ("local", "s3")


def pytest_addoption(parser):
    parser.addoption(
        "--postgres",
        action="store_true",
        help="run against a throwaway PostgreSQL server instead of SQLite",
    )
    parser.addoption(
        "--storage",
        default=",".join(BACKENDS),
        help="media backends the tests marked 'storage' run with (local,s3)",
    )


def pytest_generate_tests(metafunc):
    """Run the tests marked ``storage`` once per media backend (``--storage``);
    every other test uses the local folders."""
    if "media_backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("storage") is None:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        if "media_backend" in str(mark.args[0]):
            return  # the test picks its backend itself
    chosen = metafunc.config.getoption("--storage").split(",")
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"--storage: unknown backend {sorted(unknown)}")
    metafunc.parametrize("media_backend", chosen, indirect=True)


@pytest.fixture
def media_backend(request) -> str:
    """The media backend of this test: ``local`` or ``s3``."""
    return getattr(request, "param", "local")


@pytest.fixture(scope="session")
def s3_server():
    """One S3 HTTP endpoint (moto's server) per test process; each test that
    uses it gets its own bucket."""
    endpoint = S3Endpoint().start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def media_settings(request, media_backend, tmp_path) -> dict:
    """The app settings of this test's media backend (an empty new bucket for s3)."""
    if media_backend == "local":
        return {}
    return request.getfixturevalue("s3_server").new_bucket_settings()


@pytest.fixture(scope="session")
def postgres(request):
    """The throwaway PostgreSQL server of a --postgres run (None for SQLite)."""
    if not request.config.getoption("--postgres"):
        yield None
        return
    server = PostgresServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def database_url(postgres, tmp_path) -> str:
    return postgres.url if postgres else f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def sim():
    """The Graph API simulator, serving over HTTP for the whole session."""
    server = simulator.SimulatorServer().start()
    yield server
    server.stop()


@pytest.fixture
def world(sim):
    """The simulator's state, reset for each test."""
    sim.world.reset()
    sim.world.configure(container_ready_after=0.2, video_processing_seconds=0.4)
    return sim.world


@pytest.fixture
def make_app(tmp_path, world, sim, database_url, media_settings):
    """Build apps with test settings; each gets a fresh schema."""
    made = []

    def factory(*, start_scheduler: bool = False, **overrides):
        config = {
            "TESTING": True,
            "DEMO": False,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "FB_APP_ID": simulator.DEFAULT_APP_ID,
            "FB_APP_SECRET": simulator.DEFAULT_APP_SECRET,
            "FB_ENDPOINT": sim.graph_url,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "STAGING_FOLDER": str(tmp_path / "staging"),
            "VIDEO_WORK_FOLDER": str(tmp_path / "video-work"),
            "SCHEDULER_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "GRAPH_TIMEOUT": (2, 5),
            "PUBLISH_FIRST_CHECK_SECONDS": 0.3,
            "PUBLISH_CHECK_INTERVAL_SECONDS": 0.3,
            "PUBLISH_BACKOFF_BASE_SECONDS": 0.2,
            "PUBLISH_BACKOFF_CAP_SECONDS": 1,
            "PUBLISH_SWEEP_SECONDS": 1,
            "PUBLISH_QUOTA_WAIT_SECONDS": 60,
            "PUBLISH_LEASE_SECONDS": 30,
            "PUBLISH_VIDEO_CHECK_SECONDS": 0.2,
            "PUBLISH_VIDEO_MAX_GAP_SECONDS": 1,
            # Tests make requests faster than people; tests/test_ratelimit.py
            # turns the limits on.
            "RATELIMIT_ENABLED": False,
            **media_settings,
        }
        config.update(overrides)
        app = create_app(config)
        with app.app_context():
            if not made:
                db.drop_all()
            db.create_all()
        made.append(app)
        if start_scheduler:
            publisher.start()
        return app

    yield factory
    publisher.shutdown(wait=True)
    # A video conversion must not outlive its test: the next one drops the tables.
    conversions.wait()
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def scheduled_app(make_app):
    """An app whose in-process publishing scheduler is running."""
    return make_app(start_scheduler=True)


@pytest.fixture
def all_jobs_app(make_app, app):
    """A running scheduler whose horizon covers every post (up to 60 days), so
    tests can look at the job of a post days away.

    Built after ``app`` (which the ``auth`` fixture uses): the scheduler takes
    its settings from the app built last.
    """
    return make_app(start_scheduler=True, PUBLISH_HORIZON_SECONDS=60 * 86400)


@pytest.fixture
def auth(client, world):
    return AuthActions(client, world)


@pytest.fixture
def user(app, auth):
    """A user logged in through the real login flow (the simulator's demo user)."""
    resp = auth.login()
    assert resp.status_code == 200, resp.get_json()
    with app.app_context():
        return db.session.scalars(db.select(User)).one()


@pytest.fixture
def live_server(app):
    """Serve ``app`` over HTTP so the simulator's crawler can fetch staged images."""
    with serve_app(app) as url:
        yield url


# -- servers the notification tests deliver to -----------------------------------


@pytest.fixture
def mail():
    """A real SMTP server (aiosmtpd) that keeps what it receives."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def receiver():
    """A real HTTP receiver for webhooks and Web Push."""
    with Receiver() as r:
        yield r
