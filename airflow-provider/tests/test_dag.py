"""`dag.test()` against the emulator: 8 mapped tasks, 1 token request, through a real Variable.

The DAG is `dags/telnyx_mapped.py`: every task starts from an empty cache, as a new task process.
"""

from __future__ import annotations

import json

from airflow_provider_telnyx_oauth.store import variable_key
from telnyx_oauth.emulator import TelnyxEmulator


def test_dag_test_eight_mapped_tasks_make_one_token_request(
    airflow_db: str, emulator: TelnyxEmulator, telnyx_conn: str
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.variable import Variable
    from airflow.utils.state import DagRunState, TaskInstanceState

    from tests.conftest import DAGS_FOLDER

    dag = DagBag(DAGS_FOLDER).get_dag("telnyx_mapped")
    run = dag.test()

    states = [ti.state for ti in run.get_task_instances()]
    assert run.state == DagRunState.SUCCESS
    assert states == [TaskInstanceState.SUCCESS] * 8
    assert emulator.counters.token_requests == 1
    assert emulator.counters.api_requests == 8
    stored = json.loads(Variable.get(variable_key(telnyx_conn)))
    assert stored["access_token"] in emulator.issued_access_tokens()
