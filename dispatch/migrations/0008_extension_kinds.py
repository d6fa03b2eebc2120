# 延期 extensions are told in the inbox: a request to its deciders, a decision to its asker (inbox only,
# not in dispatch.sms.SMS_KINDS, so the SMS trigger stays as 0006 rendered it).
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0007_self_handle_told'),
    ]

    operations = [
        migrations.AlterField(
            model_name='notification',
            name='kind',
            field=models.CharField(choices=[('assigned', 'assigned to you'), ('informed', 'for your information'), ('escalated', 'escalated'), ('overdue', 'overdue'), ('reopened', 'reopened after a dissatisfied return visit'), ('ext_asked', '延期申请 an extension to decide'), ('ext_decided', '延期审批 your extension decided')], max_length=12),
        ),
    ]
