"""remember used Meta signed_requests (refuse replays of callbacks)

Revision ID: 916f0fb973a6
Revises: 5df3d69bf1a6
Create Date: 2026-12-02 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '916f0fb973a6'
down_revision = '5df3d69bf1a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('used_signed_requests',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('digest')
    )
    with op.batch_alter_table('used_signed_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_used_signed_requests_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('used_signed_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_signed_requests_expires_at'))

    op.drop_table('used_signed_requests')
