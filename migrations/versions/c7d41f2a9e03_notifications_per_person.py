"""notifications per person: each person's own email and push choices

Email and browser push move from the account to the person: every person
holding an account gets a copy of the account's email address and per-event
choices (``person_notification_settings``, keyed by person and account), so
nobody stops or starts getting email by this upgrade. Push subscriptions
become the person's browsers: each goes to the person who last logged the
account in (else the first holder; dropped when nobody holds the account).
Deliveries record whose email or browser they go to. Webhooks stay the
account's, in ``notification_settings``.

Revision ID: c7d41f2a9e03
Revises: b5e8a4c2d7f1
Create Date: 2026-12-03 01:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7d41f2a9e03'
down_revision = 'b5e8a4c2d7f1'
branch_labels = None
depends_on = None

CHOICES = ('email', 'email_failed', 'email_reauth', 'email_expiring',
           'email_summary', 'push_failed', 'push_published')


def upgrade():
    op.create_table('person_notification_settings',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('email_failed', sa.Boolean(), nullable=False),
    sa.Column('email_reauth', sa.Boolean(), nullable=False),
    sa.Column('email_expiring', sa.Boolean(), nullable=False),
    sa.Column('email_summary', sa.Boolean(), nullable=False),
    sa.Column('push_failed', sa.Boolean(), nullable=False),
    sa.Column('push_published', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', 'user_id')
    )
    with op.batch_alter_table('person_notification_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_notification_settings_user_id'), ['user_id'], unique=False)

    # Everyone holding an account starts with the account's choices.
    columns = ', '.join(CHOICES)
    op.execute(
        f"INSERT INTO person_notification_settings (person_id, user_id, {columns}, "
        f"updated_at) SELECT account_access.person_id, s.user_id, "
        f"{', '.join('s.' + c for c in CHOICES)}, s.updated_at "
        "FROM notification_settings s "
        "JOIN account_access ON account_access.user_id = s.user_id"
    )
    with op.batch_alter_table('notification_settings', schema=None) as batch_op:
        for name in CHOICES:
            batch_op.drop_column(name)

    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notification_deliveries_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key('fk_notification_deliveries_person_id_people', 'people', ['person_id'], ['id'], ondelete='CASCADE')

    # A browser subscribed for an account becomes the browser of the person
    # who last logged that account in (else its first holder); emails and
    # pushes already queued go to that person too, so they are still sent.
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
    for table in ('push_subscriptions', 'notification_deliveries'):
        only = " WHERE channel IN ('email', 'push')" if table != 'push_subscriptions' else ""
        op.execute(
            f"UPDATE {table} SET person_id = ("
            "SELECT a.person_id FROM account_access a "
            "JOIN people p ON p.id = a.person_id JOIN users u ON u.id = a.user_id "
            f"WHERE a.user_id = {table}.user_id "
            "ORDER BY CASE WHEN p.fb_user_id = u.fb_user_id THEN 0 ELSE 1 END, "
            f"a.person_id LIMIT 1){only}"
        )
    op.execute("DELETE FROM push_subscriptions WHERE person_id IS NULL")
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_subscriptions_user_id'))
        batch_op.drop_column('user_id')
        batch_op.alter_column('person_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_push_subscriptions_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key('fk_push_subscriptions_person_id_people', 'people', ['person_id'], ['id'], ondelete='CASCADE')


def downgrade():
    # Browsers go back to one account their person holds; unheld ones go.
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE push_subscriptions SET user_id = (SELECT MIN(a.user_id) "
        "FROM account_access a WHERE a.person_id = push_subscriptions.person_id)"
    )
    op.execute("DELETE FROM push_subscriptions WHERE user_id IS NULL")
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_push_subscriptions_person_id_people', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_push_subscriptions_person_id'))
        batch_op.drop_column('person_id')
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_push_subscriptions_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key('fk_push_subscriptions_user_id_users', 'users', ['user_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('fk_notification_deliveries_person_id_people', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_person_id'))
        batch_op.drop_column('person_id')

    # The account gets back the choices of its first holder who made any.
    with op.batch_alter_table('notification_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=320), nullable=True))
        for name in CHOICES[1:]:
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=False,
                                          server_default=sa.false() if name == 'email_summary' else sa.true()))
    first = (
        "SELECT MIN(p2.person_id) FROM person_notification_settings p2 "
        "WHERE p2.user_id = p.user_id"
    )
    op.execute(
        "INSERT INTO notification_settings (user_id, updated_at) "
        "SELECT DISTINCT p.user_id, CURRENT_TIMESTAMP FROM person_notification_settings p "
        "WHERE p.user_id NOT IN (SELECT user_id FROM notification_settings)"
    )
    for name in CHOICES:
        op.execute(
            f"UPDATE notification_settings SET {name} = (SELECT p.{name} "
            "FROM person_notification_settings p WHERE p.user_id = "
            f"notification_settings.user_id AND p.person_id = ({first})) "
            "WHERE user_id IN (SELECT user_id FROM person_notification_settings)"
        )
    with op.batch_alter_table('person_notification_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_notification_settings_user_id'))

    op.drop_table('person_notification_settings')
