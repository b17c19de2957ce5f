"""The lock's decision is pure: who may take it, when it is stale, what a name may be."""

import datetime

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import locks

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.timezone.utc)


def held(execution_id, minutes_ago, ttl_minutes):
    return locks.lock_document("dr/prod", {"execution_id": execution_id}, ttl_minutes * 60, NOW - datetime.timedelta(minutes=minutes_ago))


@pytest.mark.parametrize("current,me,break_lock,expected", [
    (None, "a", False, locks.ACQUIRE),
    (held("a", 5, 60), "a", False, locks.RENEW),
    (held("b", 5, 60), "a", False, locks.REFUSE),
    (held("b", 5, 60), "a", True, locks.BREAK),
    (held("b", 60, 60), "a", False, locks.TAKE_STALE),   # exactly at its ttl: stale
    (held("b", 59, 60), "a", False, locks.REFUSE),
    ({"holder": {"execution_id": "b"}}, "a", False, locks.TAKE_STALE),  # unreadable times: stale, not held forever
])
def test_decide(current, me, break_lock, expected):
    assert locks.decide(current, me, NOW, break_lock) == expected


def test_a_renewal_keeps_when_it_was_first_acquired():
    first = held("a", 30, 60)
    renewed = locks.lock_document("dr/prod", {"execution_id": "a"}, 3600, NOW, acquired_at=first["acquired_at"])
    assert renewed["acquired_at"] == first["acquired_at"] and renewed["renewed_at"] == "2026-12-07T12:00:00Z"
    assert renewed["expires_at"] == "2026-12-07T13:00:00Z"


@pytest.mark.parametrize("name", ["dr/prod", "dr/staging-eu", "pipeline/backfill/2026"])
def test_names_that_make_safe_keys(name):
    assert locks.check_name(name) == name


@pytest.mark.parametrize("name", ["", "/dr", "dr/", "dr//prod", "../etc", "dr/..", "dr prod", "a/b/c/d/e", None])
def test_names_refused(name):
    with pytest.raises(OpsError) as caught:
        locks.check_name(name)
    assert caught.value.reason == "invalid_input"


def test_the_refusal_names_the_holder_and_the_way_out():
    text = locks.held_message("dr/prod", "s3://b/receipts/locks/dr/prod.json", held("dr-20261207t1100z", 5, 60), NOW)
    assert "dr-20261207t1100z" in text and "break_lock=true" in text and "2026-12-07T12:55:00Z" in text
