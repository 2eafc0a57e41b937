"""How Meta's error codes are sorted into what the engine does about them.

The codes and their advice come from Meta's error references, summarised in
shared/docs/graph-api.md §5.2 (generic Graph codes) and §5.3 (Instagram
publishing codes and the retry classes for a scheduler).
"""

from __future__ import annotations

import pytest

from ospost.graph import ErrorKind
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError
from ospost.graph import classify

TRANSIENT = ErrorKind.TRANSIENT
NOT_READY = ErrorKind.NOT_READY
RECREATE = ErrorKind.RECREATE
QUOTA = ErrorKind.QUOTA
REAUTH = ErrorKind.REAUTH
PERMANENT = ErrorKind.PERMANENT


@pytest.mark.parametrize(
    ("code", "subcode", "kind"),
    [
        # Retry with backoff: downtime and rate limits (§5.2).
        (1, None, TRANSIENT),  # API Unknown
        (2, None, TRANSIENT),  # API Service
        (4, None, TRANSIENT),  # app rate limit
        (17, None, TRANSIENT),  # user rate limit
        (32, None, TRANSIENT),  # Pages API rate limit
        (613, None, TRANSIENT),  # custom rate limit
        (613, 1996, TRANSIENT),  # unusual request volume
        (341, None, TRANSIENT),  # application limit
        (80002, None, TRANSIENT),  # Instagram BUC limit
        # Retry with backoff: Instagram publishing (§5.3).
        (-1, 2207001, TRANSIENT),  # Instagram server error
        (-2, 2207003, TRANSIENT),  # timeout downloading media
        (24, 2207008, TRANSIENT),  # container missing, retry within minutes
        (-1, 2207032, TRANSIENT),  # container creation failed
        (9004, 2207052, TRANSIENT),  # media not fetched; often clears on retry
        # Poll, then publish on FINISHED.
        (9007, 2207027, NOT_READY),
        # Publishing limit: wait for the 24-hour window.
        (9, 2207042, QUOTA),
        # Make a new container.
        (-2, 2207020, RECREATE),  # media expired
        (-1, 2207053, RECREATE),  # unknown upload error
        # Log in again.
        (190, None, REAUTH),
        (102, None, REAUTH),
        (190, 458, REAUTH),  # app not installed
        (190, 459, REAUTH),  # user checkpointed
        (190, 460, REAUTH),  # password changed
        (190, 463, REAUTH),  # token expired
        (190, 464, REAUTH),  # unconfirmed user
        (190, 467, REAUTH),  # invalid token
        (190, 492, REAUTH),  # invalid session
        # Fail: the person must change something (§5.2, §5.3).
        (10, None, PERMANENT),  # permission denied
        (200, None, PERMANENT),
        (299, None, PERMANENT),
        (100, None, PERMANENT),  # invalid parameter
        (100, 2207023, PERMANENT),  # unknown media type
        (100, 2207028, PERMANENT),  # carousel size
        (100, 2207040, PERMANENT),  # too many tags
        (25, 2207050, PERMANENT),  # account restricted
        (352, 2207026, PERMANENT),  # unsupported video format
        (36000, 2207004, PERMANENT),  # image over 8 MiB
        (36001, 2207005, PERMANENT),  # image format
        (36003, 2207009, PERMANENT),  # aspect ratio
        (36004, 2207010, PERMANENT),  # caption too long
        (506, None, PERMANENT),  # duplicate post
        # Carousels, people tags and collaborators.
        (110, 2207018, PERMANENT),  # tagged person or collaborator unknown/private
        (100, None, PERMANENT),  # "param collaborators is not allowed for child"
        (24, 2207006, PERMANENT),  # an item (or container) Meta cannot find
    ],
)
def test_meta_codes_map_to_the_documented_action(code, subcode, kind):
    assert classify(code, subcode) is kind


def test_a_temporary_policy_block_is_retried_later():
    """Meta's advice for 368 is to wait and retry, so the post is not failed."""
    assert classify(368, None) is TRANSIENT


def test_suspected_spam_is_not_retried_blindly():
    """4/2207051 looks like the rate-limit code 4 but must not be retried."""
    assert classify(4, 2207051) is PERMANENT


def test_oauth_exception_without_subcode_asks_for_a_new_login():
    assert classify(190, None, 400, "OAuthException") is REAUTH


@pytest.mark.parametrize(
    ("http_status", "kind"),
    [
        (None, TRANSIENT),  # no answer at all
        (500, TRANSIENT),
        (502, TRANSIENT),
        (503, TRANSIENT),
        (429, TRANSIENT),
        (400, PERMANENT),
        (404, PERMANENT),
    ],
)
def test_answers_without_a_meta_error_body_go_by_http_status(http_status, kind):
    assert classify(None, None, http_status) is kind


def test_a_graph_error_knows_its_kind_and_the_sentence_to_show():
    exc = GraphError(
        "The image size is too large.",
        code=36000,
        subcode=2207004,
        http_status=400,
        user_msg="The image is too large to download.",
        fbtrace_id="A6LJylpZRKw2xKLFsAP-cJh",
        error_type="OAuthException",
    )
    assert exc.kind is PERMANENT
    assert exc.user_message() == "The image is too large to download."
    assert str(exc) == "The image size is too large. (code 36000/2207004)"


def test_an_unreachable_graph_api_is_worth_retrying():
    assert GraphNetworkError("Could not reach Instagram").kind is TRANSIENT
    assert GraphNetworkError("bad gateway", http_status=502).kind is TRANSIENT


def test_an_untaggable_person_is_explained_with_what_to_do():
    """Meta's answer to a private or unknown collaborator (Postiz #1876)."""
    exc = GraphError(
        "Invalid user id",
        code=110,
        subcode=2207018,
        user_msg="The following user(s) cannot be accessed: evolve.how",
    )
    assert exc.kind is PERMANENT
    assert exc.user_message() == (
        "The following user(s) cannot be accessed: evolve.how. Check the usernames "
        "of the people tagged and the collaborators: each must be an existing, "
        "public Instagram account."
    )
