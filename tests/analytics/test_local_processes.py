"""Without a broker a large brand is scored in this machine's processes: the scores equal one process's."""

import pytest

from apps.analytics.local_workers import default_processes, local_chunking
from apps.analytics.models import ModelRun, ProspectScore, RunStatus
from apps.analytics.services import scores_refresh
from apps.engagement.models import ContactPolicy, NextAction
from tests.analytics.conftest import AS_OF, run_scores


def test_how_many_processes_a_brand_gets(settings):
    settings.SCORES_LOCAL_PROCESSES = 8
    assert [default_processes(n) for n in (0, 49_999, 100_000, 1_000_000)] == [1, 1, 2, 8]
    settings.SCORES_LOCAL_PROCESSES = 2
    assert default_processes(1_000_000) == 2


def next_actions(run) -> dict:
    fields = ("action", "basis", "benefit_id", "uplift", "expected_gain", "reasons")
    return {
        row[0]: row[1:]
        for row in NextAction.objects.filter(run_id=run.pk).values_list("customer_id", *fields)
    }


@pytest.mark.django_db(transaction=True)
def test_scoring_in_two_processes_equals_one_process(demo_brand):
    # a brand that never set its contact policy: nothing prepared beside the publish may create it (a row
    # referring to the brand waited for the publish's lock on the brand while the publish waited for it)
    ContactPolicy.objects.filter(brand=demo_brand).delete()
    split = scores_refresh(brand=demo_brand, as_of=AS_OF, **local_chunking(demo_brand, processes=2))
    assert split.status == RunStatus.PUBLISHED
    assert ModelRun.objects.get(pk=split.pk).params["chunks"] == 2
    split_actions = next_actions(split)  # the next publish replaces them
    single = scores_refresh(brand=demo_brand, as_of=AS_OF, **local_chunking(demo_brand, processes=1))
    assert single.customers_scored == split.customers_scored > 0
    assert run_scores(split.pk) == run_scores(single.pk)
    split.refresh_from_db()
    # the holdout (judged in the refresh's process while the chunks read their features) says the same
    for key in ("holdout", "overall", "calibration", "renewal"):
        assert split.metrics[key] == single.metrics[key]
    # the prospects and recommendations, computed beside the scoring in a thread of their own, are the same
    assert "prospects (beside the scoring)" in split.timings and "prospects" not in split.timings
    # the dashboard's paid orders were folded beside the publish, and its snapshot is there
    assert "paid orders folded (beside the publish)" in split.timings
    assert "paid orders folded (beside the publish)" not in single.timings
    for name in ("prospects", "recommendations"):
        timed = ("seconds",)  # what differs between two runs: how long they took
        assert {k: v for k, v in split.metrics[name].items() if k not in timed} == {
            k: v for k, v in single.metrics[name].items() if k not in timed
        }
    assert split.metrics["prospects"]["prospects"] > 0

    def propensities(run):
        return dict(ProspectScore.objects.filter(run=run).values_list("customer_id", "propensity"))

    assert propensities(split) == propensities(single) and len(propensities(split)) > 0
    # the next actions, decided beside the publish's stage history in a thread of their own, are the same
    single.refresh_from_db()
    assert split.metrics["next_actions"]["decided_beside_the_publish"] is True
    assert single.metrics["next_actions"]["decided_beside_the_publish"] is False
    assert split_actions == next_actions(single) and len(split_actions) == split.customers_scored + len(
        propensities(split)
    )
    # the same summary but for how and how fast it was made
    timed = ("seconds", "decided_beside_the_publish", "publish_waited_seconds", "written_in_seconds")
    assert {k: v for k, v in split.metrics["next_actions"].items() if k not in timed} == {
        k: v for k, v in single.metrics["next_actions"].items() if k not in timed
    }


@pytest.mark.django_db(transaction=True)
def test_rows_referring_to_the_brand_are_written_while_a_publish_is_in_its_transaction(demo_brand):
    """The publish (and the tier changes it applies) lock the brand FOR NO KEY UPDATE: another connection's
    insert of a row referring to the brand (an import, the next actions prepared beside the publish) takes a
    key-share lock on it and must not wait for the publish's commit (with FOR UPDATE it waited: a chunked
    refresh of a brand with no contact policy deadlocked)."""
    import threading

    from django.db import connection, connections

    from apps.analytics.signals import scores_published
    from apps.communities.models import Community

    outcome = {}

    def insert_elsewhere():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '3s'")
            Community.objects.create(brand=demo_brand, external_id="during-publish", name="x")
            outcome["inserted"] = True
        except Exception as exc:  # the lock timeout, on the old lock
            outcome["error"] = repr(exc)
        finally:
            connections.close_all()

    def during_publish(sender, run, **kwargs):
        assert connection.in_atomic_block  # inside the publish's transaction, after its tier changes
        worker = threading.Thread(target=insert_elsewhere)
        worker.start()
        worker.join(30)
        outcome["tier_changes"] = run.params["tiers"]["changes"]

    scores_published.connect(during_publish, dispatch_uid="test_during_publish")
    try:
        run = scores_refresh(brand=demo_brand, as_of=AS_OF)
    finally:
        scores_published.disconnect(dispatch_uid="test_during_publish")
    assert run.status == RunStatus.PUBLISHED
    assert outcome.get("inserted") is True, outcome
    assert outcome["tier_changes"] > 0  # the tier changes' own lock on the brand was held too
    assert Community.objects.filter(brand=demo_brand, external_id="during-publish").exists()
