from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0011_managers_register_tasks'),
    ]

    # A task Blu says it does not know is asked again at growing intervals, then no longer
    # polled; callbacks may add only so many new tasks an hour (counted on the index).
    operations = [
        migrations.AddField(
            model_name='task',
            name='blu_unknown_tries',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='task',
            name='learned_from_callback',
            field=models.BooleanField(default=False),
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('learned_from_callback', True)), fields=['account', 'first_seen_at'], name='task_from_callback_idx'),
        ),
    ]
