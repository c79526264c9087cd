from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.accounts import AccountStatus, Role
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Account',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('full_name', fields.CharField(max_length=200)),
                ('email', fields.CharField(null=True, unique=True, max_length=254)),
                ('email_verified', fields.BooleanField(default=False)),
                ('phone', fields.CharField(null=True, unique=True, max_length=20)),
                ('login', fields.CharField(null=True, unique=True, max_length=64)),
                ('role', fields.CharEnumField(default=Role.RESIDENT, description='RESIDENT: resident\nSTAFF: staff\nADMIN: admin', enum_type=Role, max_length=16)),
                ('password_hash', fields.CharField(null=True, max_length=255)),
                ('status', fields.CharEnumField(default=AccountStatus.ACTIVE, description='ACTIVE: active\nDISABLED: disabled', enum_type=AccountStatus, max_length=16)),
                ('preferred_language', fields.CharField(default='ru', max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('password_changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'accounts', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('occurred_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('action', fields.CharField(db_index=True, max_length=64)),
                ('actor_id', fields.UUIDField(null=True, db_index=True)),
                ('subject_id', fields.UUIDField(null=True, db_index=True)),
                ('ticket_number', fields.CharField(null=True, db_index=True, max_length=32)),
                ('client_address', fields.CharField(null=True, max_length=64)),
                ('user_agent', fields.CharField(null=True, max_length=300)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'audit_events', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('access_hash', fields.CharField(unique=True, max_length=64)),
                ('access_expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('auth_method', fields.CharField(default='pwd', max_length=8)),
                ('client_address', fields.CharField(null=True, max_length=64)),
                ('user_agent', fields.CharField(null=True, max_length=300)),
            ],
            options={'table': 'sessions', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.Session', source_field='session_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_tokens', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
