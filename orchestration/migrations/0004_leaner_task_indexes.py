"""Fewer indexes on the task table, which every transition writes several times: each status
change of a task writes a new entry into every index that covers the row.

- the foreign key's own index on workflow_id goes: task_wf_seq and uniq_task_attempt both
  lead with workflow_id;
- the queue index only holds SCHEDULED tasks, the only ones pollers and queue sizes look for;
- on PostgreSQL, the varchar_pattern_ops copy of the primary key Django adds for LIKE
  lookups goes: a task id is always looked up whole (a search's STARTS_WITH on a task id
  still works, by scanning)."""

import django.db.models.deletion
from django.db import migrations, models


def _drop_task_id_pattern_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("orchestration", "Task")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
            "AND indexdef LIKE %s",
            [table, "%(id varchar_pattern_ops)%"],
        )
        for (name,) in cursor.fetchall():
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0003_search_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="task", name="task_queue_status"),
        migrations.AlterField(
            model_name="task",
            name="workflow",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tasks",
                to="orchestration.workflow",
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                condition=models.Q(("status", "SCHEDULED")), fields=["queue_name", "scheduled_time"], name="task_queue_sched"
            ),
        ),
        migrations.RunPython(_drop_task_id_pattern_index, migrations.RunPython.noop),
    ]
