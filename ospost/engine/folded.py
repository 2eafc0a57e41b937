"""PostgreSQL: a lease-guarded save and the statements that commit with it, as
one statement.

A save that carries other writes (``Step.pending``: the quota count with the
media id, the outbox event and the forgotten files with the final save) is a
transaction on SQLite: ``BEGIN``, the guarded UPDATE of the post, each pending
statement, ``COMMIT``. On PostgreSQL each of those is a round trip, and a
burst spends more time on them than on the statements
(``bench/publish_burst.py``). Here the guarded UPDATE becomes a
data-modifying ``WITH`` query and each pending write runs only if it updated
the post:

    WITH saved AS (UPDATE posts SET ... WHERE id = ... AND lease_owner = ...
                   AND status = 'publishing' RETURNING posts.id),
         w0 AS (UPDATE users SET ... WHERE ... AND EXISTS (SELECT saved.id FROM saved)),
         w1 AS (INSERT INTO notification_events (...) SELECT ... WHERE EXISTS (...)
                ON CONFLICT DO NOTHING)
    SELECT count(*) FROM saved

One statement is atomic on its own, so it commits alone (autocommit): all of
it or none of it, exactly as the transaction. ``fold`` returns None for what
it cannot fold with the same meaning, and the caller keeps the transaction:
two pending writes to one table, or one to the post's (one statement must not
update a row twice), or a statement that is not an UPDATE or an INSERT.
Each statement's parameters are renamed apart (``p0__user_id``...), so none is
mistaken for another's or for a column to set.
"""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.elements import BindParameter

# Folded statements by shape: the post's columns and each pending statement
# with its parameter names. Shapes are few (a handful of step endings).
_CACHE: dict[tuple, object] = {}
_CACHE_MAX = 256


def fold(save: Update, values: dict, where: dict, pending: list):
    """``(statement, parameters)`` running ``save`` (the guarded UPDATE of the
    post, setting ``values``, with ``where``'s parameters) and ``pending`` as
    one statement that returns how many posts it updated; None when they
    cannot be folded (see the module's docstring)."""
    params = dict(where)
    params.update({f"s__{key}": value for key, value in values.items()})
    tables = set()
    shape = []
    for index, (statement, args) in enumerate(pending):
        if not isinstance(statement, Update | Insert):
            return None
        table = statement.table
        if table in tables or table is save.table:
            return None
        tables.add(table)
        params.update({f"p{index}__{key}": value for key, value in args.items()})
        shape.append((statement, tuple(sorted(args))))
    key = (save, tuple(sorted(values)), tuple(shape))
    if key in _CACHE:
        folded = _CACHE[key]
    else:
        try:
            folded = _build(save, values, shape)
        except InvalidRequestError:  # e.g. an INSERT that has its own VALUES
            folded = None
        if len(_CACHE) < _CACHE_MAX:
            _CACHE[key] = folded
    return None if folded is None else (folded, params)


def _where_names(statement) -> set[str]:
    """The named parameters of a statement's WHERE clause (the others in its
    call's parameters are the columns it sets or inserts)."""
    clause = statement.whereclause if isinstance(statement, Update) else None
    if clause is None:
        return set()
    return {
        element.key
        for element in visitors.iterate(clause)
        if isinstance(element, BindParameter)
    }


def _renamed(statement, names: set[str], prefix: str):
    """``statement`` with its parameters ``names`` renamed ``prefix + name``:
    no two statements share a name, and none is taken for a column to set."""
    if not names:
        return statement

    def rename(element):
        if isinstance(element, BindParameter) and element.key in names:
            return bindparam(prefix + element.key, type_=element.type)
        return None

    return visitors.replacement_traverse(statement, {}, rename)


def _build(save: Update, values: dict, shape: list):
    """The folded statement, or None if a parameter names no column (left to
    the statements as they are)."""
    table = save.table
    if any(key not in table.c for key in values):
        return None
    columns = {key: bindparam(f"s__{key}", type_=table.c[key].type) for key in values}
    saved = save.values(columns).returning(table.c.id).cte("saved")
    if_saved = select(saved.c.id).exists()
    writes = []
    for index, (statement, keys) in enumerate(shape):
        target = statement.table
        named = _where_names(statement)
        own = [k for k in keys if k not in named]
        if any(k not in target.c for k in own):
            return None
        binds = {k: bindparam(f"p{index}__{k}", type_=target.c[k].type) for k in own}
        statement = _renamed(statement, named, f"p{index}__")
        if isinstance(statement, Update):
            if binds:
                statement = statement.values(binds)
            statement = statement.where(if_saved)
        else:
            rows = select(*(binds[k].label(k) for k in own)).where(if_saved)
            statement = statement.from_select(own, rows)
        writes.append(statement.cte(f"w{index}"))
    return select(func.count()).select_from(saved).add_cte(*writes)
