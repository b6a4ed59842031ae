"""Write Conductor workers as Python functions run by Celery.

    from workers import worker_task, TerminalError, InProgress

    @worker_task("greet")
    def greet(input: dict) -> dict:
        return {"greeting": f"Hello, {input['name']}!"}
"""

from workers.runtime import InProgress, TaskContext, TerminalError, worker_task

__all__ = ["InProgress", "TaskContext", "TerminalError", "worker_task"]
