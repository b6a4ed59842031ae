"""The landing page shows what is defined and what ran."""

from __future__ import annotations

import pytest
from django.test import Client

from orchestration.services.definitions import workflow_def_register
from orchestration.services.workflows import workflow_start


@pytest.mark.django_db(transaction=True)
def test_home_lists_definitions_and_recent_executions(client: Client) -> None:
    workflow_def_register(data={"name": "home_wf", "tasks": [{"name": "nop", "taskReferenceName": "n", "type": "NOOP"}]})
    workflow_id = workflow_start(name="home_wf", input={})
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "home_wf" in body
    assert workflow_id in body
    assert 'class="COMPLETED"' in body
