"""The restore and tracking tests, run unchanged against a three-primary Redis Cluster.

``redis_backend`` is overridden here, so every client these tests build (the bot's, the
test's own) is redis-py's ``RedisCluster`` on the session's cluster. A script whose keys
spanned slots, a cross-slot MGET or a key outside the layout would fail them with
``CROSSSLOT`` or "non local key".
"""

from __future__ import annotations

import pytest

from tests.fixtures.redis_topologies import ClusterBackend, RedisBackend
from tests.test_restore_flow import (
    test_a_bot_that_died_after_the_intent_finds_the_restore_it_created,
    test_buttons_keep_working_through_a_restarted_bot,
    test_fifty_concurrent_last_consents_make_one_revalidate,
    test_fifty_concurrent_start_clicks_make_one_create_call,
    test_housekeeping_expires_due_sessions_and_edits_each_card_once,
    test_restore_show_lists_the_decisions_and_the_audit_stream_records_them,
    test_staging_restore_runs_after_three_consents,
    test_start_clicks_spread_over_two_bot_processes_make_one_create_call,
    test_the_tracker_ends_the_card_with_the_outcome_and_the_report,
)
from tests.test_tracker import (
    test_complete_backup_edits_card_and_announces_once_in_thread_and_notify,
    test_restart_mid_operation_gives_exactly_one_final_notification,
    test_three_processes_announce_each_of_200_operations_once_even_when_one_dies,
    test_two_processes_starting_together_adopt_each_running_operation_once,
)


@pytest.fixture
def redis_backend(redis_cluster: ClusterBackend) -> RedisBackend:
    """Every Redis client of these tests talks to the session's Redis Cluster."""
    return redis_cluster


__all__ = [
    "test_a_bot_that_died_after_the_intent_finds_the_restore_it_created",
    "test_buttons_keep_working_through_a_restarted_bot",
    "test_complete_backup_edits_card_and_announces_once_in_thread_and_notify",
    "test_fifty_concurrent_last_consents_make_one_revalidate",
    "test_fifty_concurrent_start_clicks_make_one_create_call",
    "test_housekeeping_expires_due_sessions_and_edits_each_card_once",
    "test_restart_mid_operation_gives_exactly_one_final_notification",
    "test_restore_show_lists_the_decisions_and_the_audit_stream_records_them",
    "test_staging_restore_runs_after_three_consents",
    "test_start_clicks_spread_over_two_bot_processes_make_one_create_call",
    "test_the_tracker_ends_the_card_with_the_outcome_and_the_report",
    "test_three_processes_announce_each_of_200_operations_once_even_when_one_dies",
    "test_two_processes_starting_together_adopt_each_running_operation_once",
]
