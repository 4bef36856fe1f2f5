from django.db import migrations


def seed(apps, schema_editor):
    from calls.conclusions import DICTIONARY

    Conclusion = apps.get_model("calls", "Conclusion")
    Conclusion.objects.bulk_create(
        [
            Conclusion(code=code, label=label, classified=True, **{flag: True for flag in flags})
            for code, (label, flags) in DICTIONARY.items()
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("calls", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
