from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _defaults_for_brand(sender, brand, created, **kwargs):
    """Every brand saved through brands.services.brand_create gets a contact policy and the default
    follow-up templates and rules it lacks."""
    from apps.engagement.services import engagement_defaults_ensure

    engagement_defaults_ensure(brand=brand)


def _plan_ended_streams(sender, brand, stream_ids, **kwargs):
    """Streams that ended (ingested or imported with an end time) get their follow-ups planned."""
    from apps.engagement.tasks import followups_plan_request

    followups_plan_request(brand=brand, stream_ids=stream_ids)


def _next_actions_ahead(sender, run, **kwargs):
    """A run about to be published: its next actions are decided beside the publish (used by _next_actions)."""
    from apps.engagement.next_action import next_actions_ahead

    run.next_actions_ahead = next_actions_ahead(run=run)


def _next_actions(sender, run, previous=None, **kwargs):
    """A published run gets every customer's next best action (in the publish transaction)."""
    from apps.engagement.next_action import next_actions_compute

    ahead = run.__dict__.pop("next_actions_ahead", None)
    next_actions_compute(run=run, ahead=ahead)


def _plan_win_back(sender, run, previous=None, **kwargs):
    """A published run starts win-back for customers who entered the at-risk list or the decline stage."""
    from apps.engagement.tasks import win_back_plan_request

    win_back_plan_request(run=run, previous=previous)


class EngagementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.engagement"
    label = "engagement"
    verbose_name = _("Follow-ups and touches")

    def ready(self):
        from apps.analytics.signals import scores_published, scores_ready
        from apps.brands.signals import brand_saved
        from apps.streams.signals import streams_ended

        brand_saved.connect(_defaults_for_brand, dispatch_uid="engagement_defaults_for_brand")
        streams_ended.connect(_plan_ended_streams, dispatch_uid="engagement_plan_ended_streams")
        scores_ready.connect(_next_actions_ahead, dispatch_uid="engagement_next_actions_ahead")
        scores_published.connect(_next_actions, dispatch_uid="engagement_next_actions")
        scores_published.connect(_plan_win_back, dispatch_uid="engagement_plan_win_back")
