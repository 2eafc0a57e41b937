"""carousels, first comment, people tags and collaborators

A post gets ordered media items (``post_media``): every existing post with an
image becomes a one-item post, its image, thumbnail, size and alt text moving
to item 0; a draft saved without an image gets no item (and keeps its
``scheduled_at``, NULL or not). ``posts.image_sha256`` stays on the post: it is
the first item's hash, which is the image it already described. Posts gain
collaborators, a first comment with its own status, and a history
(``post_events``). Going back keeps each post's first item (and its hash).

Revision ID: 7c1a2e9b4d10
Revises: 3d020763fbf8
Create Date: 2026-12-02 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c1a2e9b4d10'
down_revision = '3d020763fbf8'
branch_labels = None
depends_on = None


# SQLite rebuilds a table to drop a column; with foreign keys on, dropping the
# old posts table would cascade into post_media. So the images wait in a plain
# table while posts changes, and the new tables are filled after.
HOLD = "post_media_migration"


def upgrade():
    op.execute(
        f"CREATE TABLE {HOLD} AS SELECT id AS post_id, filename, thumbnail, "
        "width, height, alt_text FROM posts"
    )
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_type', sa.String(length=16), nullable=False, server_default='IMAGE'))
        batch_op.add_column(sa.Column('collaborators', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('first_comment', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('comment_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('comment_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('comment_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('comment_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('comment_error', sa.Text(), nullable=True))
        batch_op.drop_column('alt_text')
        batch_op.drop_column('filename')
        batch_op.drop_column('thumbnail')
        batch_op.drop_column('width')
        batch_op.drop_column('height')

    # The server defaults only filled the existing rows; the models set them.
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.alter_column('media_type', server_default=None)
        batch_op.alter_column('collaborators', server_default=None)
        batch_op.alter_column('first_comment', server_default=None)
        batch_op.alter_column('comment_attempts', server_default=None)

    op.create_table('post_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=64), nullable=True),
    sa.Column('thumbnail', sa.String(length=64), nullable=True),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('alt_text', sa.Text(), nullable=False),
    sa.Column('user_tags', sa.JSON(), nullable=False),
    sa.Column('container_id', sa.String(length=64), nullable=True),
    sa.Column('container_created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('container_status', sa.String(length=16), nullable=True),
    sa.Column('containers_created', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('post_id', 'position')
    )
    with op.batch_alter_table('post_media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_post_media_post_id'), ['post_id'], unique=False)

    op.create_table('post_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('post_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_post_events_post_id'), ['post_id'], unique=False)

    # Every existing post with an image becomes a one-item post (a draft with
    # none gets no item). A single image's container stays on the post, so
    # item 0 starts without one.
    op.execute(
        "INSERT INTO post_media (post_id, position, filename, thumbnail, width, "
        "height, alt_text, user_tags, containers_created) "
        "SELECT post_id, 0, filename, thumbnail, width, height, alt_text, '[]', 0 "
        f"FROM {HOLD} WHERE filename IS NOT NULL"
    )
    op.drop_table(HOLD)


def downgrade():
    # Only the first item of a carousel survives: the old schema has one image.
    op.execute(
        f"CREATE TABLE {HOLD} AS SELECT post_id, filename, thumbnail, width, "
        "height, alt_text FROM post_media WHERE position = 0"
    )
    with op.batch_alter_table('post_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_post_events_post_id'))
    op.drop_table('post_events')
    with op.batch_alter_table('post_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_post_media_post_id'))
    op.drop_table('post_media')

    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alt_text', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('filename', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('thumbnail', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('width', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('height', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_column('comment_error')
        batch_op.drop_column('comment_attempts')
        batch_op.drop_column('comment_requested_at')
        batch_op.drop_column('comment_id')
        batch_op.drop_column('comment_status')
        batch_op.drop_column('first_comment')
        batch_op.drop_column('collaborators')
        batch_op.drop_column('media_type')
    for column in ('alt_text', 'filename', 'thumbnail', 'width', 'height'):
        op.execute(
            f"UPDATE posts SET {column} = (SELECT h.{column} FROM {HOLD} h "
            "WHERE h.post_id = posts.id) "
            f"WHERE EXISTS (SELECT 1 FROM {HOLD} h WHERE h.post_id = posts.id)"
        )
    with op.batch_alter_table('posts', schema=None) as batch_op:
        for column in ('alt_text', 'width', 'height'):
            batch_op.alter_column(column, server_default=None)
    op.drop_table(HOLD)
