"""Deploy a flow from this repository's local source to a process work pool (run as a script).

Usage: python _deploy.py ENTRYPOINT DEPLOYMENT_NAME POOL INTERVAL_SECONDS PARAMETERS_JSON

ENTRYPOINT is `path/inside/repo.py:flow_function`. No image is built or pushed: a process worker
runs the flow from the checked-out source, the way `prefect deploy` with a local path does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from prefect import Flow

REPO = Path(__file__).resolve().parents[3]


def main() -> None:
    entrypoint, name, pool, interval, parameters = sys.argv[1:6]
    flow = Flow.from_source(source=str(REPO), entrypoint=entrypoint)
    deployment_id = flow.deploy(
        name=name,
        work_pool_name=pool,
        interval=float(interval),
        parameters=json.loads(parameters),
        build=False,
        push=False,
        print_next_steps=False,
    )
    print(deployment_id, flow.name, flush=True)


if __name__ == "__main__":
    main()
