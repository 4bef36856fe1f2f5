import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0012_tasks_unknown_to_blu_and_from_callbacks'),
    ]

    # Each account may add only so many new conclusion codes a day: who added a code, and when.
    # Codes learned before this migration have neither and count toward no account's day.
    operations = [
        migrations.AddField(
            model_name='conclusion',
            name='learned_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='conclusion',
            name='learned_from',
            field=models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='calls.bluaccount'),
        ),
    ]
