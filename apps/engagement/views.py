"""The public endpoints of the action layer: the tracked link of a touch, and delivery receipts from the
brand's gateway. Neither shows or logs personal data."""

from __future__ import annotations

import hmac
import json
import logging
import time

from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.engagement.delivery import sign
from apps.engagement.models import ContactPolicy
from apps.engagement.services import LinkError, touch_click, touch_receipt

logger = logging.getLogger(__name__)

RECEIPT_MAX_SKEW = 300  # seconds a receipt's timestamp may differ from ours
RECEIPT_MAX_BYTES = 16_384


@never_cache
@require_GET
def click(request, token: str):
    """A customer followed a touch's link: record the click once and send them on to the rule's link (or the
    brand's landing page). An altered link is refused (404); an old one has expired (410)."""
    try:
        result = touch_click(token=token)
    except LinkError as exc:
        if exc.code == "expired":
            message, status = _("This link has expired."), 410
        else:
            message, status = _("This link is not valid."), 404
        return render(request, "engagement/link.html", {"message": message}, status=status)
    if result.url.startswith(("https://", "http://")):
        return HttpResponseRedirect(result.url)
    return render(request, "engagement/link.html", {"message": _("Thank you! Your visit was recorded.")})


@csrf_exempt
@require_POST
def receipt(request):
    """A delivery receipt from a brand's gateway: JSON {"brand", "key", "status": "delivered"|"failed",
    "reason"} (brand and key as the product sent them), signed like the product's own webhook requests
    (X-CLV-Timestamp, X-CLV-Signature) with the brand's webhook secret. Answers 200 with the touch's status,
    or 400/401/404 with {"error": …}."""
    body = request.body
    if len(body) > RECEIPT_MAX_BYTES:
        return JsonResponse({"error": _("The receipt is too large.")}, status=400)
    try:
        data = json.loads(body)
        slug, key, status = str(data["brand"]), str(data["key"]), str(data["status"])
        reason = str(data.get("reason", ""))[:200]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": _("Send JSON with brand, key and status.")}, status=400)
    policy = ContactPolicy.objects.select_related("brand").filter(brand__slug=slug).first()
    if policy is None:
        return JsonResponse({"error": _("No touch has this key.")}, status=404)
    timestamp = request.headers.get("X-CLV-Timestamp", "")
    signature = request.headers.get("X-CLV-Signature", "").removeprefix("sha256=")
    if not (policy.webhook_secret and timestamp.isdigit()):
        return JsonResponse({"error": _("The receipt is not signed.")}, status=401)
    expected = sign(policy.webhook_secret, timestamp, body)
    if abs(time.time() - int(timestamp)) > RECEIPT_MAX_SKEW or not hmac.compare_digest(expected, signature):
        return JsonResponse({"error": _("The signature does not match.")}, status=401)
    try:
        touch = touch_receipt(brand=policy.brand, key=key, status=status, reason=reason)
    except ValueError as exc:
        status_code = 404 if str(exc) == _("no touch has this key") else 400
        return JsonResponse({"error": str(exc)}, status=status_code)
    return JsonResponse({"key": key, "status": touch.status})
