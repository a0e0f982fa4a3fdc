"""Flask's "Background Tasks with Celery" pattern (Flask's examples/celery), verbatim but for
the import, with a real Flask app and a real ``celeriac -A make_celery worker``.

The project runs in subprocesses only: its ``celery_app.set_default()`` must not change this
test process's default app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import running_worker

pytestmark = pytest.mark.slow

FILES = {
    "example/__init__.py": """\
        from celeriac import Celery, Task
        from flask import Flask


        def create_app() -> Flask:
            app = Flask(__name__)
            app.config.from_mapping(
                CELERY=dict(
                    broker_url="redis://localhost",
                    result_backend="redis://localhost",
                    task_ignore_result=True,
                ),
            )
            app.config.from_prefixed_env()
            celery_init_app(app)

            from . import views

            app.register_blueprint(views.bp)
            return app


        def celery_init_app(app: Flask) -> Celery:
            class FlaskTask(Task):
                def __call__(self, *args: object, **kwargs: object) -> object:
                    with app.app_context():
                        return self.run(*args, **kwargs)

            celery_app = Celery(app.name, task_cls=FlaskTask)
            celery_app.config_from_object(app.config["CELERY"])
            celery_app.set_default()
            app.extensions["celery"] = celery_app
            return celery_app
        """,
    "example/tasks.py": """\
        from celeriac import shared_task
        from flask import current_app


        @shared_task(ignore_result=False)
        def add(a: int, b: int) -> int:
            return a + b


        @shared_task(ignore_result=False)
        def flask_app_seen() -> dict:
            # Not in Flask's example: shows the task body runs inside the app context.
            return {"name": current_app.name, "greeting": current_app.config["GREETING"]}
        """,
    "example/views.py": """\
        from celeriac.result import AsyncResult
        from flask import Blueprint
        from flask import request

        from . import tasks

        bp = Blueprint("tasks", __name__, url_prefix="/tasks")


        @bp.get("/result/<id>")
        def result(id: str) -> dict[str, object]:
            result = AsyncResult(id)
            ready = result.ready()
            return {
                "ready": ready,
                "successful": result.successful() if ready else None,
                "value": result.get() if ready else result.result,
            }


        @bp.post("/add")
        def add() -> dict[str, object]:
            a = request.form.get("a", type=int)
            b = request.form.get("b", type=int)
            result = tasks.add.delay(a, b)
            return {"result_id": result.id}
        """,
    "make_celery.py": """\
        from example import create_app

        flask_app = create_app()
        celery_app = flask_app.extensions["celery"]
        """,
    # The web side, through Flask's test client: the view sends, the result view polls.
    "client.py": """\
        import json
        import time

        from make_celery import celery_app, flask_app
        from example import tasks

        client = flask_app.test_client()
        result_id = client.post("/tasks/add", data={"a": 2, "b": 3}).get_json()["result_id"]
        deadline = time.monotonic() + 30
        while True:
            shown = client.get(f"/tasks/result/{result_id}").get_json()
            if shown["ready"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        seen = tasks.flask_app_seen.delay().get(timeout=30)
        print(json.dumps({"shown": shown, "seen": seen,
                          "default_app_is_flask_celery": tasks.add.app is celery_app}))
        """,
}


def _write(root: Path) -> dict[str, str]:
    for relative, text in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    store = f"sqlite:///{root / 'celeriac.db'}"
    # Flask's from_prefixed_env: nested keys with "__", as the example's users configure it.
    return {"PYTHONPATH": str(root), "FLASK_CELERY__broker_url": store,
            "FLASK_CELERY__result_backend": store, "FLASK_GREETING": "hello from flask"}


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_flask_pattern_runs_tasks_in_the_app_context(tmp_path: Path, pool: str) -> None:
    env = _write(tmp_path)
    with running_worker(tmp_path, "-A", "make_celery", "worker", "-P", pool, "-c", "1",
                        "-l", "info", env=env):
        done = subprocess.run([sys.executable, "client.py"], cwd=tmp_path,
                              env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=90, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["shown"] == {"ready": True, "successful": True, "value": 5}
    assert report["seen"] == {"name": "example", "greeting": "hello from flask"}
    assert report["default_app_is_flask_celery"] is True
