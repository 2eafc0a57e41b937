"""carousel items may be videos: post_videos.post_media_id

A carousel item's video is a ``post_videos`` row naming its ``post_media``
row (``post_media_id``, unique, removed with it); a post may therefore have
several videos, so ``post_videos.post_id`` is no longer unique (only
indexed). Existing rows are Reels' and Stories' videos and keep
``post_media_id`` empty.

Revision ID: d4a9c1e7b2f5
Revises: e4b9d1c07a32
Create Date: 2026-12-03 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4a9c1e7b2f5'
down_revision = 'e4b9d1c07a32'
branch_labels = None
depends_on = None

# SQLite keeps the old unique constraint unnamed: the batch copy finds it by
# this convention's name (PostgreSQL named it itself).
NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_post_id_name():
    if op.get_bind().dialect.name == "sqlite":
        return "uq_post_videos_post_id"
    return "post_videos_post_id_key"


def upgrade():
    # Nothing refers to post_videos, so SQLite's copy-and-rename batch is safe.
    with op.batch_alter_table('post_videos', naming_convention=NAMES) as batch_op:
        batch_op.drop_constraint(_unique_post_id_name(), type_='unique')
        batch_op.add_column(sa.Column('post_media_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_post_videos_post_media_id_post_media', 'post_media',
            ['post_media_id'], ['id'], ondelete='CASCADE')
        batch_op.create_unique_constraint(
            'uq_post_videos_post_media_id', ['post_media_id'])
        batch_op.create_index('ix_post_videos_post_id', ['post_id'])


def downgrade():
    # Item videos have no place in the older schema: they go (their posts keep
    # the poster frames as images).
    op.execute("DELETE FROM post_videos WHERE post_media_id IS NOT NULL")
    with op.batch_alter_table('post_videos', naming_convention=NAMES) as batch_op:
        batch_op.drop_index('ix_post_videos_post_id')
        batch_op.drop_constraint('uq_post_videos_post_media_id', type_='unique')
        batch_op.drop_constraint(
            'fk_post_videos_post_media_id_post_media', type_='foreignkey')
        batch_op.drop_column('post_media_id')
        batch_op.create_unique_constraint(_unique_post_id_name(), ['post_id'])
