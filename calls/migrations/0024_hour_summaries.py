"""Each account's calls per day, hour and code in the company's zone: what "When calls work"
sums by weekday and hour. The rows for the calls already stored are counted here from the calls
(one grouped pass over them); from now on every write keeps them (calls/ingest/summaries.py),
and the nightly check compares them with a recount."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Case, CharField, Count, F, Value, When
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

NO_CODE = "(no code)"  # calls/conclusions/categories.py's NO_CODE, as it was when this was written


def count_account_hours(apps, schema_editor):
    CallRecord = apps.get_model("calls", "CallRecord")
    AccountHourSummary = apps.get_model("calls", "AccountHourSummary")
    company = timezone.get_default_timezone()
    # summaries.summary_code(): a call that ended without a code is counted under NO_CODE.
    code = Case(
        When(code="", end_time__isnull=False, then=Value(NO_CODE)),
        default=F("code"),
        output_field=CharField(),
    )
    rows = (
        CallRecord.objects.filter(start_time__isnull=False)
        .annotate(
            day=TruncDate("start_time", tzinfo=company),
            hour=ExtractHour("start_time", tzinfo=company),
            summary_code=code,
        )
        .order_by()
        .values("account_id", "day", "hour", "summary_code")
        .annotate(n=Count("id"))
    )
    AccountHourSummary.objects.bulk_create(
        (
            AccountHourSummary(
                account_id=row["account_id"],
                day=row["day"],
                hour=row["hour"],
                code=row["summary_code"],
                calls=row["n"],
            )
            for row in rows.iterator(chunk_size=2000)
        ),
        batch_size=1000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0023_contact_limits'),
    ]

    operations = [
        migrations.CreateModel(
            name='AccountHourSummary',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('hour', models.PositiveSmallIntegerField()),
                ('code', models.CharField(blank=True, help_text='Empty while calls are in progress', max_length=64)),
                ('calls', models.PositiveIntegerField(default=0)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='calls.bluaccount')),
            ],
            options={
                'indexes': [models.Index(fields=['day'], name='accounthour_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('account', 'day', 'hour', 'code'), name='accounthour_unique'), models.CheckConstraint(condition=models.Q(('hour__lte', 23)), name='accounthour_hour')],
            },
        ),
        # Dropping the table undoes it.
        migrations.RunPython(count_account_hours, migrations.RunPython.noop),
    ]
