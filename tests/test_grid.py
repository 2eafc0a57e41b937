"""The home grid: what a person sees stays true while each worker reuses its
rendering, and the Earlier/Later buttons work without JavaScript."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost import grid as grid_module
from ospost.grid import Grid
from ospost.grid import GridCache
from support import create_post
from support import soon

MOVE_FORM = re.compile(r'<form id="move-form" method="post"[^>]*>(.*?)</form>', re.S)


def make_posts(client, *minutes: int) -> None:
    for m in minutes:
        assert create_post(client, when=soon(m), caption=f"p{m}").status_code == 200


def post_ids(app) -> dict[str, int]:
    with app.app_context():
        return {p.caption: p.id for p in db.session.scalars(db.select(Post))}


def home(client) -> str:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    return resp.get_data(as_text=True)


def without_token(page: str) -> str:
    """The page with its CSRF tokens blanked (they change every second)."""
    return re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]*', r"\1", page)


def tile(page: str, post_id: int) -> str:
    match = re.search(rf'<li [^>]*id="post-{post_id}".*?</li>', page, re.S)
    assert match, f"no tile for post {post_id}"
    return match.group(0)


def change_elsewhere(app, statement) -> None:
    """Write as another worker or the publishing engine would: not through
    this request cycle, straight to the database."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(statement)


def test_move_buttons_submit_the_shared_form_without_javascript(app, client, user):
    make_posts(client, 60, 120, 180)
    ids = post_ids(app)
    page = home(client)
    form = MOVE_FORM.search(page)
    assert form, "the page has no #move-form"
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.group(1))
    assert token, "the shared move form carries no CSRF token"
    # What a browser sends for a click on the last post's "Move earlier".
    button = re.search(
        r'<button form="move-form" formaction="([^"]+)" name="direction" '
        r'value="earlier"[^>]*aria-label="Move earlier: post of [^"]+"',
        tile(page, ids["p180"]),
    )
    assert button and button.group(1) == f"/post/{ids['p180']}/move"
    with app.app_context():
        before = {
            p.caption: p.scheduled_at for p in db.session.scalars(db.select(Post))
        }
    resp = client.post(
        html.unescape(button.group(1)),
        data={"csrf_token": html.unescape(token.group(1)), "direction": "earlier"},
    )
    assert resp.status_code == 302
    with app.app_context():
        after = {p.caption: p.scheduled_at for p in db.session.scalars(db.select(Post))}
    assert after["p180"] == before["p120"] and after["p120"] == before["p180"]
    # The new order shows at once: p120 is now the last to go out (first tile).
    tiles = re.findall(r'<li class="tile [^"]*" id="post-(\d+)"', home(client))
    assert [int(t) for t in tiles] == [ids["p120"], ids["p180"], ids["p60"]]


def test_grid_shows_what_other_workers_and_the_engine_changed(app, client, user):
    make_posts(client, 60, 120)
    ids = post_ids(app)
    home(client)  # shows (and so clears) the "New post scheduled" messages
    first = home(client)
    assert "Scheduled" in tile(first, ids["p60"])
    # Unchanged: the same page, but for the CSRF token's timestamp.
    assert without_token(home(client)) == without_token(first)

    # The engine marks a post failed with Meta's reason (a Core UPDATE).
    change_elsewhere(
        app,
        update(Post)
        .where(Post.id == ids["p60"])
        .values(status=PostStatus.FAILED, error_message="Meta said no & more"),
    )
    page = home(client)
    assert "Meta said no &amp; more" in tile(page, ids["p60"])
    assert "1 post could not be published." in page
    assert "2 upcoming" in page

    # Another worker publishes the other post.
    change_elsewhere(
        app,
        update(Post)
        .where(Post.id == ids["p120"])
        .values(status=PostStatus.PUBLISHED, published_at=now_utc()),
    )
    page = home(client)
    assert "tile-published" in tile(page, ids["p120"])
    assert "1 upcoming" in page and "1 published" in page

    # And someone removes a post in another browser.
    change_elsewhere(app, delete(Post).where(Post.id == ids["p60"]))
    page = home(client)
    assert f'id="post-{ids["p60"]}"' not in page
    assert "could not be published" not in page
    assert "0 upcoming" in page


def test_grid_follows_the_time_zone_and_login_expiry(app, client, user):
    make_posts(client, 60)
    (post_id,) = post_ids(app).values()
    with app.app_context():
        when = db.session.get(Post, post_id).scheduled_at
    paris = home(client)
    assert when.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M CET") in paris
    resp = client.post("/account/timezone", data={"timezone": "Asia/Kolkata"})
    assert resp.status_code == 302
    kolkata = home(client)
    assert when.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M IST") in kolkata
    assert "Login expires first" not in kolkata
    # The login now runs out before the post is due: the tile says so.
    change_elsewhere(
        app,
        update(User)
        .where(User.id == user.id)
        .values(token_expires_at=when - timedelta(hours=1)),
    )
    assert "Login expires first" in tile(home(client), post_id)


def test_an_unchanged_grid_is_not_loaded_again(app, client, user):
    make_posts(client, 60, 120, 180)
    home(client)
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        page = home(client)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert page.count('class="tile ') == 3
    post_rows = [s for s in statements if "FROM posts" in s and "count(" not in s]
    assert post_rows == [], "the tiles were loaded although nothing changed"


def test_a_rendering_that_raced_a_change_is_not_kept(app, client, user, monkeypatch):
    make_posts(client, 60)
    home(client)
    render_posts = grid_module.grid_posts
    racer: list[int] = []

    def posts_added_meanwhile(who):
        # Another tab adds a post after this request read the grid's version.
        if not racer:
            with db.engine.begin() as conn:
                values = {
                    "user_id": who.id,
                    "scheduled_at": soon(90),
                    "caption": "racer",
                }
                result = conn.execute(Post.__table__.insert().values(**values))
                racer.append(result.inserted_primary_key[0])
        return render_posts(who)

    monkeypatch.setattr(grid_module, "grid_posts", posts_added_meanwhile)
    change_elsewhere(app, update(Post).values(caption="edited"))  # a fresh render
    page = home(client)
    assert racer and f'id="post-{racer[0]}"' in page
    # The racer is removed again: the grid's version is back to what this
    # request first read, and must not bring back the rendering it made.
    change_elsewhere(app, delete(Post).where(Post.id == racer[0]))
    page = home(client)
    assert f'id="post-{racer[0]}"' not in page
    assert "1 upcoming" in page


def test_cache_stays_within_its_memory_budget():
    grids = {n: Grid(body=b"x" * 100, upcoming=n, published=0) for n in (1, 2, 3)}
    cache = GridCache(max_bytes=250)
    for n, grid in grids.items():
        cache.put(n, ("v", n), grid)
    assert cache.get(1, ("v", 1)) is None  # evicted: least recently used
    assert cache.get(2, ("v", 2)) is grids[2]
    assert cache.get(3, ("v", 2)) is None  # another version is never served
    cache.put(3, ("v", 4), grids[3])  # replacing an entry frees its bytes
    assert cache.get(2, ("v", 2)) is grids[2] and cache.get(3, ("v", 4)) is grids[3]
    cache.put(1, ("v", 1), grids[1])  # over budget: 2 was used least recently
    assert cache.get(2, ("v", 2)) is None
    assert cache.get(3, ("v", 4)) is grids[3] and cache.get(1, ("v", 1)) is grids[1]
    cache.forget(3)
    assert cache.get(3, ("v", 4)) is None
    off = GridCache(max_bytes=0)
    off.put(1, ("v", 1), grids[1])
    assert off.get(1, ("v", 1)) is None
