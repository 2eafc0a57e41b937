"""people and account access: several Instagram accounts per person

A person is a Facebook user (``people``); ``account_access`` says which
Instagram accounts (``users``) Meta listed for them at their last login.
Every existing account's ``fb_user_id`` (the Facebook user who last logged it
in) becomes a person holding that account, so everyone keeps what they had.
Sessions record their person; ones from before this revision hold none, so
their browsers log in again. Post history lines get who did them (``actor``).

Revision ID: b5e8a4c2d7f1
Revises: ed11f06f9aee
Create Date: 2026-12-03 00:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5e8a4c2d7f1'
down_revision = 'ed11f06f9aee'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fb_user_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fb_user_id')
    )
    op.create_table('account_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id', 'user_id')
    )
    with op.batch_alter_table('account_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_access_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_access_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_web_sessions_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key('fk_web_sessions_person_id_people', 'people', ['person_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('post_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.String(length=255), nullable=True))

    # Each Facebook user who logged an account in becomes a person holding it.
    op.execute(
        "INSERT INTO people (fb_user_id, name, created_at, last_login_at) "
        "SELECT fb_user_id, '', MIN(created_at), MAX(last_login_at) FROM users "
        "WHERE fb_user_id IS NOT NULL GROUP BY fb_user_id"
    )
    op.execute(
        "INSERT INTO account_access (person_id, user_id, granted_at) "
        "SELECT people.id, users.id, COALESCE(users.last_login_at, users.created_at) "
        "FROM users JOIN people ON people.fb_user_id = users.fb_user_id"
    )
    # Sessions without a person would look logged out anyway; drop them now.
    op.execute("DELETE FROM web_sessions")


def downgrade():
    with op.batch_alter_table('post_events', schema=None) as batch_op:
        batch_op.drop_column('actor')

    op.execute("DELETE FROM web_sessions")
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_web_sessions_person_id_people', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_web_sessions_person_id'))
        batch_op.drop_column('person_id')

    with op.batch_alter_table('account_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_access_user_id'))
        batch_op.drop_index(batch_op.f('ix_account_access_person_id'))

    op.drop_table('account_access')
    op.drop_table('people')
