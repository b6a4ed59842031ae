"""Baton's broker messages: Celery task messages of one string argument (a task id or a
workflow id), made by Celery and read back by their argument."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import current_app
from celery.app.amqp import task_message
from kombu import Message

log = logging.getLogger(__name__)


def task_message_for(task_name: str, arg: str) -> task_message:
    """Celery's protocol-2 message of ``task_name(arg)``, results ignored. The argument's repr is
    given rather than left to Celery's ``saferepr``, which costs more than the rest of the
    message for what is always one short string."""
    return current_app.amqp.as_task_v2(
        str(uuid.uuid4()), task_name, args=[arg], kwargs={}, argsrepr=repr([arg]), kwargsrepr="{}",
        ignore_result=True,
    )


def task_argument(body: Any) -> str | None:
    """args[0] of a decoded Celery task message body, when it is a string (the task id or
    workflow id Baton publishes). Protocol 2: ``[args, kwargs, embed]``; protocol 1: a dict."""
    args = body.get("args") if isinstance(body, dict) else body[0] if isinstance(body, list | tuple) and body else None
    return args[0] if isinstance(args, list | tuple) and args and isinstance(args[0], str) else None


def message_task_id(message: Message) -> str | None:
    """The task id a kombu message carries (``task_argument``); None for one that cannot be read."""
    try:
        body = message.decode()
    except Exception:
        log.warning("undecodable message dropped from a task queue", exc_info=True)
        return None
    return task_argument(body)
