"""index pending posts by (status, next_attempt_at) for the horizon and sweep

Revision ID: 3c1f5e7a9b20
Revises: 0db1516744eb
Create Date: 2026-12-10 12:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '3c1f5e7a9b20'
down_revision = '0db1516744eb'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index(
            'ix_posts_status_next_attempt_at',
            ['status', 'next_attempt_at'],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('ix_posts_status_next_attempt_at')
