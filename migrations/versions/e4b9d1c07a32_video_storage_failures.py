"""post_videos.storage_failures: a conversion whose media storage keeps
failing is given up after a bounded number of tries

Until now a conversion that could not read or write the media storage was
tried again every couple of minutes, forever. The count of such tries lets
``ospost.reels`` back off like the publishing engine and fail the video (and
its post) after ``PUBLISH_MAX_ATTEMPTS``. Existing rows start at 0.

Revision ID: e4b9d1c07a32
Revises: c7d41f2a9e03
Create Date: 2026-12-03 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4b9d1c07a32'
down_revision = 'c7d41f2a9e03'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'post_videos',
        sa.Column('storage_failures', sa.Integer(), server_default='0', nullable=False),
    )


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+, PostgreSQL), as for posts.post_type.
    op.execute("ALTER TABLE post_videos DROP COLUMN storage_failures")
