# Contact limits per account, the calls that broke them, each borrower's last right-party call.

import datetime
import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

from calls.migrations._groups import create_groups


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0022_acting'),
    ]

    operations = [
        migrations.CreateModel(
            name='CallLimitBreach',
            fields=[
                ('call', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='limit_breach', serialize=False, to='calls.callrecord')),
                ('too_many', models.BooleanField(default=False, help_text='Over the calls in any 7 days')),
                ('in_hold_off', models.BooleanField(default=False, help_text='Within the hold-off')),
                ('outside_hours', models.BooleanField(default=False, help_text='Outside the calling hours')),
            ],
        ),
        migrations.CreateModel(
            name='ContactLimits',
            fields=[
                ('account', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='contact_limits', serialize=False, to='calls.bluaccount')),
                ('max_calls_7d', models.PositiveSmallIntegerField(blank=True, default=7, help_text='Calls to one borrower in any rolling 7 days (Regulation F: 7). Empty: no limit.', null=True, validators=[django.core.validators.MinValueValidator(1)], verbose_name='calls in any 7 days, at most')),
                ('hold_off_days', models.PositiveSmallIntegerField(default=0, help_text='No call for this many days after a right-party call (Regulation F: 7). 0: off.', verbose_name='hold-off after a conversation, days')),
                ('calling_from', models.TimeField(default=datetime.time(8, 0), help_text="The earliest time of day a call may start, in the account's zone")),
                ('calling_until', models.TimeField(default=datetime.time(21, 0), help_text="The latest time of day a call may start, in the account's zone (earlier than the start: the hours run past midnight)")),
            ],
            options={
                'verbose_name': 'contact limits',
                'verbose_name_plural': 'contact limits',
            },
        ),
        migrations.AddField(
            model_name='borrower',
            name='last_right_party_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name='borrower',
            index=models.Index(condition=models.Q(('last_right_party_at__isnull', False)), fields=['account', '-last_right_party_at'], name='borrower_right_party_idx'),
        ),
        # Admins edit the contact limits with their account.
        migrations.RunPython(create_groups, migrations.RunPython.noop),
    ]
