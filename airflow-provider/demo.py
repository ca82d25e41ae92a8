"""`make demo-airflow`: the example DAG and the keeper DAG, offline, against the local emulator.

Runs in a throw-away AIRFLOW_HOME (SQLite), with the connection given through the environment,
so it touches no Airflow installation of yours and sends nothing beyond 127.0.0.1.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOME = tempfile.mkdtemp(prefix="airflow-telnyx-demo-")
atexit.register(shutil.rmtree, HOME, ignore_errors=True)
DAGS = Path(__file__).parent / "airflow_provider_telnyx_oauth" / "example_dags"
os.environ.update(
    AIRFLOW_HOME=HOME,
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
    AIRFLOW__CORE__EXECUTOR="LocalExecutor",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{HOME}/airflow.db",
    AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
)


def main() -> int:
    from telnyx_oauth.emulator import TelnyxEmulator

    with TelnyxEmulator() as emulator:
        os.environ["AIRFLOW_CONN_TELNYX_DEFAULT"] = json.dumps(
            {
                "conn_type": "telnyx_oauth",
                "login": emulator.client_id,
                "password": emulator.client_secret,
                "host": emulator.base_url,
            }
        )
        print(f"Telnyx emulator on {emulator.base_url}; Airflow home {HOME}")
        started = time.monotonic()
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)
        print(f"airflow db migrate: {time.monotonic() - started:.1f} s")

        from airflow.dag_processing.dagbag import DagBag

        logging.getLogger("airflow").setLevel(logging.WARNING)
        bag = DagBag(str(DAGS))
        for dag_id in ("telnyx_example", "telnyx_oauth_keeper"):
            started = time.monotonic()
            run = bag.get_dag(dag_id).test()
            print(f"\n{dag_id}: {run.state} in {time.monotonic() - started:.1f} s")
            for ti in sorted(run.get_task_instances(), key=lambda ti: (ti.task_id, ti.map_index)):
                index = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
                print(f"  {ti.task_id}{index}: {ti.state}")
            if run.state != "success":
                return 1
        counters = emulator.counters
        print(
            f"\n{counters.api_requests} Telnyx API requests, {counters.token_requests} token "
            "request: every task shared one token (kept in Variable telnyx_oauth_token__"
            "telnyx_default)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
