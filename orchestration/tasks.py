"""Celery tasks: thin shells over services."""

from __future__ import annotations

from celery import shared_task

from orchestration.services import sweeper
from orchestration.services.workflows import take_decide_request, workflow_decide


@shared_task(name="baton.decide", ignore_result=True)
def decide(workflow_id: str) -> None:
    take_decide_request(workflow_id)
    workflow_decide(workflow_id=workflow_id, wait=True)


@shared_task(name="baton.sweep", ignore_result=True)
def sweep() -> None:
    sweeper.sweep()
