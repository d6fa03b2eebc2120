from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0033_heatrun_lengths'),
    ]

    operations = [
        migrations.AddField(
            model_name='heatrun',
            name='part_start',
            field=models.DateTimeField(help_text="a live run's: its first day is summed from this moment (the N days "
                                                 "ending when it was summed); None: whole days", null=True),
        ),
        migrations.AlterField(
            model_name='heatrun',
            name='last_day',
            field=models.DateField(help_text="the day after the last day summed (the day it was summed; a live run's: "
                                             "tomorrow, today summed so far)"),
        ),
    ]
