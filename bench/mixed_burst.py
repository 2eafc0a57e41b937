"""The mixed burst of bench/publish_burst.py: single images and carousels.

``publish_burst.py --mixed 700,300`` seeds 700 single images and 300 carousels
of 3-10 items (a third of all posts with a first comment), all due at T0,
spread over accounts of ``--per-account`` posts (Meta allows 100 per account
and day), and runs the same number of single images first, so both times sit
side by side. From the simulator's records it checks that every post was
published once, none lost, and that no item container, carousel container or
comment was made twice: an item container is known by its image URL (each
item has its own public copy), a carousel by its caption.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from benchlib import report

ITEMS = (3, 10)  # items per carousel, inclusive
COMMENT_EVERY = 3  # every third post gets a first comment


@dataclass(frozen=True)
class Planned:
    caption: str
    items: int
    comment: str


def add_arguments(parser) -> None:
    parser.add_argument(
        "--mixed",
        metavar="SINGLE,CAROUSELS",
        type=_mix,
        help="a mixed burst, e.g. 700,300: single images and carousels of "
        f"{ITEMS[0]}-{ITEMS[1]} items, every {COMMENT_EVERY}rd post with a first "
        "comment; runs as many single images first for comparison",
    )


def _mix(text: str) -> tuple[int, int]:
    single, _, carousels = text.partition(",")
    return int(single), int(carousels or 0)


def plan(single: int, carousels: int, per_account: int, seed: int = 7):
    """The burst's posts, account by account (shuffled, reproducibly)."""
    rng = random.Random(seed)
    sizes = [1] * single + [rng.randint(*ITEMS) for _ in range(carousels)]
    rng.shuffle(sizes)
    posts = []
    for n, items in enumerate(sizes):
        caption = f"mixed {n}" + (f" ({items} images)" if items > 1 else "")
        comment = f"first comment of {caption}" if n % COMMENT_EVERY == 0 else ""
        posts.append(Planned(caption, items, comment))
    return [posts[i : i + per_account] for i in range(0, len(posts), per_account)]


def seeder(planned, media):
    """``run_ospost``'s seed: users, and each post with its items' files."""

    def seed(app, accounts) -> list[str]:
        from models import Post
        from models import PostMedia
        from models import User
        from models import db

        store = app.extensions["media_store"]
        jpeg, thumb = media
        later = datetime.now(UTC) + timedelta(hours=1)
        with app.app_context():
            db.create_all()
            for account, posts in zip(accounts, planned, strict=True):
                user = User(
                    ig_account_id=account.ig_user_id,
                    fb_user_id=account.fb_user_id,
                    ig_username=account.username,
                    page_name=account.page_name,
                    access_token=account.token,
                    token_expires_at=later + timedelta(hours=1),
                )
                db.session.add(user)
                for p in posts:
                    items = []
                    for position in range(p.items):
                        name, small = store.save(account.ig_user_id, jpeg, thumb)
                        items.append(
                            PostMedia(
                                filename=name,
                                thumbnail=small,
                                width=1080,
                                height=1350,
                                alt_text=f"image {position + 1}",
                            )
                        )
                    post = Post(user=user, caption=p.caption)
                    post.set_media(items)
                    post.set_first_comment(p.comment)
                    post.schedule(later)
                    db.session.add(post)
            db.session.commit()
        return [p.caption for posts in planned for p in posts]

    return seed


def checker(planned):
    """``run_ospost``'s extra figures: what Meta (the simulator) ended up with."""
    wanted = {p.caption: p for posts in planned for p in posts}

    def check(sim, app) -> dict:
        containers = sim.get("/_sim/containers")
        published = sim.get("/_sim/published")
        comments = sim.get("/_sim/comments")
        items = Counter(c["image_url"] for c in containers if c["is_carousel_item"])
        parents = Counter(
            c["caption"] for c in containers if c["media_type"] == "CAROUSEL"
        )
        singles = Counter(
            c["caption"]
            for c in containers
            if c["media_type"] == "IMAGE" and not c["is_carousel_item"]
        )
        per_media = Counter(c["media_id"] for c in comments)
        live = {p["caption"]: p for p in published}
        return {
            "carousels": sum(1 for p in wanted.values() if p.items > 1),
            "items": sum(p.items for p in wanted.values() if p.items > 1),
            "item_containers": sum(items.values()),
            "duplicate_item_containers": sum(n - 1 for n in items.values()),
            "carousel_containers": sum(parents.values()),
            "duplicate_carousel_containers": sum(n - 1 for n in parents.values()),
            "duplicate_single_containers": sum(n - 1 for n in singles.values()),
            "wrong_carousels": sum(
                1
                for caption, p in wanted.items()
                if p.items > 1
                and caption in live
                and len(live[caption]["children"]) != p.items
            ),
            "comments_wanted": sum(1 for p in wanted.values() if p.comment),
            "comments": sum(per_media.values()),
            "duplicate_comments": sum(n - 1 for n in per_media.values() if n > 1),
        }

    return check


def main(args, tmp, media, run_ospost) -> None:
    """Run the single-image burst and the mixed burst of the same size."""
    single, carousels = args.mixed
    total = single + carousels
    args.accounts = -(-total // args.per_account)
    planned = plan(single, carousels, args.per_account)
    only_single = plan(total, 0, args.per_account)
    for name in ("single", "mixed"):
        (tmp / name).mkdir()
    report(f"single images: {total} posts over {args.accounts} accounts")
    base = run_ospost(
        args, tmp / "single", media, seeder(only_single, media), checker(only_single)
    )
    report(f"mixed: {single} single images + {carousels} carousels")
    mixed = run_ospost(
        args, tmp / "mixed", media, seeder(planned, media), checker(planned)
    )
    print_comparison(args, base, mixed)


ROWS = (
    ("posts due at T0", "posts"),
    ("carousels (items)", None),
    ("published", "published"),
    ("lost", "lost"),
    ("duplicate posts", "duplicates"),
    ("all published within s", "all_published_s"),
    ("published p50 / p99 s after T0", None),
    ("item containers (duplicates)", None),
    ("carousel containers (duplicates)", None),
    ("duplicate single containers", "duplicate_single_containers"),
    ("carousels with wrong items", "wrong_carousels"),
    ("first comments wanted / made", None),
    ("duplicate comments", "duplicate_comments"),
    ("Graph calls per post (mean)", "calls_mean"),
    ("failed Graph calls", "calls_failed"),
)


def _cell(fig: dict, label: str, key: str | None) -> str:
    pairs = {
        "carousels (items)": ("carousels", "items"),
        "published p50 / p99 s after T0": ("publish_p50_s", "publish_p99_s"),
        "item containers (duplicates)": (
            "item_containers",
            "duplicate_item_containers",
        ),
        "carousel containers (duplicates)": (
            "carousel_containers",
            "duplicate_carousel_containers",
        ),
        "first comments wanted / made": ("comments_wanted", "comments"),
    }
    keys = pairs.get(label, (key,))
    values = [fig.get(k) for k in keys]
    return " / ".join(
        "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
        for v in values
    )


def print_comparison(args, base: dict, mixed: dict) -> None:
    report()
    report(
        f"Mixed burst: {args.mixed[0]} single images + {args.mixed[1]} carousels of "
        f"{ITEMS[0]}-{ITEMS[1]} items, all due at T0, beside {sum(args.mixed)} "
        f"single images; latency {args.latency_ms:g} ms/call, ready after "
        f"{args.ready_after:g} s; gunicorn -w {args.workers}, {args.threads} "
        "threads/worker"
    )
    width = 34
    report(f"{'':<{width}} {'single images':>20} {'mixed':>20}")
    for label, key in ROWS:
        cells = f"{_cell(base, label, key):>20} {_cell(mixed, label, key):>20}"
        report(f"{label:<{width}} {cells}")
    clean = all(
        mixed.get(k) == 0
        for k in (
            "lost",
            "duplicates",
            "duplicate_item_containers",
            "duplicate_carousel_containers",
            "duplicate_single_containers",
            "duplicate_comments",
            "wrong_carousels",
        )
    )
    done = mixed.get("published") == mixed.get("posts")
    report(
        "mixed burst: all published, 0 lost, 0 duplicate items/carousels/comments: "
        + ("YES" if clean and done else "NO")
    )
