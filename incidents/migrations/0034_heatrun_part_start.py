from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0033_heatrun_lengths'),
    ]

    operations = [
        migrations.AddField(
            model_name='heatrun',
            name='part_start',
            field=models.DateTimeField(help_text="a live run's: where it starts (the N days ending when it was summed, "
                                                 "or a midnight); None: a daily run", null=True),
        ),
        migrations.AlterField(
            model_name='heatrun',
            name='last_day',
            field=models.DateField(help_text="the day after the last day summed (the day it was summed; a live run's: "
                                             "tomorrow, today summed so far)"),
        ),
    ]
