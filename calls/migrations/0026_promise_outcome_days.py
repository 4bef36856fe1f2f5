# The promises counted by window-end day (company time zone) and outcome, for the overview's kept
# rates; filled from the promises stored.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone


def count_the_promises(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # In the server: a million promises in one statement, none through Python.
        table = schema_editor.quote_name(apps.get_model("calls", "PromiseOutcomeDay")._meta.db_table)
        promises = schema_editor.quote_name(apps.get_model("calls", "Promise")._meta.db_table)
        schema_editor.execute(
            f"INSERT INTO {table} (account_id, day, outcome, promises) "
            f"SELECT account_id, (window_end AT TIME ZONE %s)::date, outcome, count(*) "
            f"FROM {promises} GROUP BY 1, 2, 3",
            [settings.TIME_ZONE],
        )
        return
    # SQLite (the zero-setup default) has no AT TIME ZONE: the ORM groups by the company's day.
    Promise = apps.get_model("calls", "Promise")
    PromiseOutcomeDay = apps.get_model("calls", "PromiseOutcomeDay")
    rows = (
        Promise.objects.annotate(day=TruncDate("window_end", tzinfo=timezone.get_default_timezone()))
        .order_by()
        .values_list("account_id", "day", "outcome")
        .annotate(n=Count("pk"))
    )
    PromiseOutcomeDay.objects.bulk_create(
        (
            PromiseOutcomeDay(account_id=account, day=day, outcome=outcome, promises=n)
            for account, day, outcome, n in rows.iterator(chunk_size=2000)
        ),
        batch_size=1000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0025_review'),
    ]

    operations = [
        migrations.CreateModel(
            name='PromiseOutcomeDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('outcome', models.CharField(choices=[('open', 'Open'), ('kept', 'Kept'), ('partly_kept', 'partly kept'), ('superseded', 'Superseded'), ('claimed_paid', 'claimed paid')], max_length=16)),
                ('promises', models.PositiveIntegerField(default=0)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='calls.bluaccount')),
            ],
            options={
                'indexes': [models.Index(fields=['day'], name='promiseday_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('account', 'day', 'outcome'), name='promiseday_unique')],
            },
        ),
        migrations.RunPython(count_the_promises, migrations.RunPython.noop),
    ]
