"""Each account's calls per day and code, over all its tasks: what the overview sums instead of
every task's day rows (30 days of 20,000 tasks are some 300,000 of those; of these, about a
thousand). The rows for the calls already stored are summed here from the tasks' day rows; from
now on every write keeps them (calls/ingest/summaries.py). The nightly check compares them too."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Sum


def sum_account_days(apps, schema_editor):
    TaskDaySummary = apps.get_model("calls", "TaskDaySummary")
    AccountDaySummary = apps.get_model("calls", "AccountDaySummary")
    rows = (
        TaskDaySummary.objects.filter(day__isnull=False)
        .order_by()
        .values("account_id", "day", "code")
        .annotate(n=Sum("calls"), answered_n=Sum("answered"), talk=Sum("talk_seconds"))
    )
    AccountDaySummary.objects.bulk_create(
        (
            AccountDaySummary(
                account_id=row["account_id"],
                day=row["day"],
                code=row["code"],
                calls=row["n"],
                answered=row["answered_n"],
                talk_seconds=row["talk"],
            )
            for row in rows.iterator(chunk_size=2000)
            if row["n"]
        ),
        batch_size=1000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0016_export_jobs'),
    ]

    operations = [
        migrations.AddField(
            model_name='figurecheck',
            name='accounts_drifted',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.CreateModel(
            name='AccountDaySummary',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('code', models.CharField(blank=True, help_text='Empty while calls are in progress', max_length=64)),
                ('calls', models.PositiveIntegerField(default=0)),
                ('answered', models.PositiveIntegerField(default=0)),
                ('talk_seconds', models.PositiveBigIntegerField(default=0)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='calls.bluaccount')),
            ],
            options={
                'indexes': [models.Index(fields=['day', 'code'], name='accountday_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('account', 'day', 'code'), name='accountday_unique')],
            },
        ),
        # Dropping the table undoes it.
        migrations.RunPython(sum_account_days, migrations.RunPython.noop),
    ]
