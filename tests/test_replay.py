"""Recorded histories must replay on today's workflow code: runs in flight for weeks survive a deploy."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from certdesk.worker import workflow_runner
from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _workflow_type(path: Path) -> str:
    first = json.loads(path.read_text())["events"][0]
    return first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def test_every_workflow_has_a_recorded_history() -> None:
    recorded = {_workflow_type(p) for p in HISTORIES}
    missing = {w.__name__ for w in WORKFLOWS} - recorded
    assert not missing, f"record a history for {missing}: python tests/record_histories.py"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 (small file, test only)
    result = await Replayer(workflows=WORKFLOWS, workflow_runner=workflow_runner()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
