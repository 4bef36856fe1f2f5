"""Calls without a start time get summary rows of their own (no day), so that a task's rows add
up to its totals on every page; the rows for calls already stored are added here. Two partial
indexes let every write find a task's oldest open call and its median talk time quickly."""

from django.db import migrations, models
from django.db.models import Case, CharField, Count, F, Sum, Value, When

NO_CODE = "(no code)"  # calls.conclusions.categories.NO_CODE, as it was when this was written


def add_undated_rows(apps, schema_editor):
    CallRecord = apps.get_model("calls", "CallRecord")
    TaskDaySummary = apps.get_model("calls", "TaskDaySummary")
    code = Case(
        When(code="", end_time__isnull=False, then=Value(NO_CODE)),
        default=F("code"),
        output_field=CharField(),
    )
    rows = (
        CallRecord.objects.filter(start_time__isnull=True)
        .annotate(summary_code=code)
        .values("task_id", "account_id", "summary_code")
        .annotate(n=Count("id"), answered=Count("answer_time"), talk=Sum("duration"))
    )
    TaskDaySummary.objects.bulk_create(
        TaskDaySummary(
            task_id=row["task_id"],
            account_id=row["account_id"],
            day=None,
            code=row["summary_code"],
            calls=row["n"],
            answered=row["answered"],
            talk_seconds=row["talk"] or 0,
        )
        for row in rows
    )


def remove_undated_rows(apps, schema_editor):
    apps.get_model("calls", "TaskDaySummary").objects.filter(day__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0007_one_account_per_blu_identity'),
    ]

    operations = [
        migrations.AlterField(
            model_name='taskdaysummary',
            name='day',
            field=models.DateField(blank=True, help_text='Empty for calls without a start time', null=True),
        ),
        migrations.AddIndex(
            model_name='callrecord',
            index=models.Index(condition=models.Q(('code', ''), ('end_time__isnull', True)), fields=['task', 'start_time'], name='call_open_idx'),
        ),
        migrations.AddConstraint(
            model_name='taskdaysummary',
            constraint=models.UniqueConstraint(condition=models.Q(('day__isnull', True)), fields=('task', 'code'), name='daysummary_undated_unique'),
        ),
        migrations.AddIndex(
            model_name='callrecord',
            index=models.Index(condition=models.Q(('answer_time__isnull', False), ('duration__isnull', False), models.Q(('end_time__isnull', False), models.Q(('code', ''), _negated=True), _connector='OR')), fields=['task', 'duration'], name='call_talk_idx'),
        ),
        migrations.RunPython(add_undated_rows, remove_undated_rows),
    ]
