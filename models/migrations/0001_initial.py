from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.accounts import AccountStatus, Role
from models.desk import RecoveryKind, RecoveryStatus, VerificationOutcome
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
                ('personal_account_number', fields.CharField(null=True, db_index=True, max_length=32)),
                ('erased_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
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
            name='OwnershipVerification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket_number', fields.CharField(db_index=True, max_length=32)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', null=True, db_constraint=True, to_field='id', related_name='ownership_verifications', on_delete=OnDelete.SET_NULL)),
                ('staff', fields.ForeignKeyField('models.Account', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='ownership_verifications_made', on_delete=OnDelete.SET_NULL)),
                ('evidence', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('documents', fields.CharField(null=True, max_length=300)),
                ('comment', fields.TextField(null=True, unique=False)),
                ('outcome', fields.CharEnumField(description='VERIFIED: verified\nNOT_VERIFIED: not_verified', enum_type=VerificationOutcome, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'desk_verifications', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecoveryRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('ticket_number', fields.CharField(db_index=True, max_length=32)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', null=True, db_constraint=True, to_field='id', related_name='recovery_requests', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharEnumField(description='RESET_LINK: reset_link\nEMAIL_CHANGE: email_change', enum_type=RecoveryKind, max_length=16)),
                ('status', fields.CharEnumField(description='AWAITING_APPROVAL: awaiting_approval\nSENT: sent\nCOMPLETED: completed\nREJECTED: rejected\nSUPERSEDED: superseded', enum_type=RecoveryStatus, max_length=20)),
                ('new_email', fields.CharField(null=True, max_length=254)),
                ('old_email', fields.CharField(null=True, max_length=254)),
                ('requested_by', fields.ForeignKeyField('models.Account', source_field='requested_by_id', null=True, db_constraint=True, to_field='id', related_name='recoveries_requested', on_delete=OnDelete.SET_NULL)),
                ('decided_by', fields.ForeignKeyField('models.Account', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='recoveries_decided', on_delete=OnDelete.SET_NULL)),
                ('reset_token_ref', fields.CharField(null=True, db_index=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'desk_recoveries', 'app': 'models', 'pk_attr': 'id'},
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
        ops.CreateModel(
            name='TicketAssignment',
            fields=[
                ('ticket_number', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('staff', fields.ForeignKeyField('models.Account', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='desk_assignments', on_delete=OnDelete.SET_NULL)),
                ('assigned_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'desk_assignments', 'app': 'models', 'pk_attr': 'ticket_number'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketNote',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket_number', fields.CharField(db_index=True, max_length=32)),
                ('author', fields.ForeignKeyField('models.Account', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='desk_notes_written', on_delete=OnDelete.SET_NULL)),
                ('body', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'desk_notes', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
