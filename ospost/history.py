"""Who did what to a post: a history line for every change a person makes.

Two people who manage the same Instagram account share its posts, so each
post's history (``PostEvent``) names the person behind every creation, edit,
move or retry. It is written in one place, as the change is flushed, so no
route can forget it; the publishing engine (no request, no person) writes its
own lines without a name.
"""

from __future__ import annotations

from flask import Flask
from flask import g
from flask import has_request_context
from sqlalchemy import event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from models import Post
from models import PostEvent
from models import PostStatus

# Columns a person changes; the engine's own bookkeeping is left out.
WATCHED = ("status", "scheduled_at", "caption", "first_comment", "collaborators")


def init_app(app: Flask) -> None:
    """Record history lines for changes made in this app's requests."""
    if not event.contains(Session, "before_flush", _record_changes):
        event.listen(Session, "before_flush", _record_changes)


def _record_changes(session: Session, flush_context, instances) -> None:
    if not has_request_context():
        return
    person = g.get("person")
    if person is None:
        return
    actor = person.label
    for obj in list(session.new):
        if isinstance(obj, Post):
            message = (
                "Saved as a draft" if obj.status == PostStatus.DRAFT else "Created"
            )
            obj.events.append(PostEvent(message=message, actor=actor))
    for obj in list(session.dirty):
        if isinstance(obj, Post) and obj.id is not None:
            message = describe_change(obj)
            if message:
                session.add(PostEvent(post_id=obj.id, message=message, actor=actor))


def describe_change(post: Post) -> str | None:
    """A person's change to a post, in a few words (None: nothing they'd see)."""
    state = inspect(post)
    changed = {
        name
        for name in WATCHED
        if state.attrs[name].history.has_changes()
        and state.attrs[name].history.deleted != state.attrs[name].history.added
    }
    if not changed:
        return None
    if "status" in changed:
        return {
            PostStatus.DRAFT: "Made a draft",
            PostStatus.SCHEDULED: "Scheduled",
        }.get(post.status, "Changed")
    if changed == {"scheduled_at"}:
        return "Moved to another time"
    return "Edited"
