"""Delivery backends: how a rendered message leaves the product.

- ConsoleBackend: logs that a touch went out (its key and channel, never the text or the person): development.
- EmailBackend: Django's e-mail backend (settings.EMAIL_BACKEND), one connection per batch.
- WebhookBackend: a signed JSON POST per message to the brand's gateway (SMS, WeChat, WeCom, app push), with
  a timeout, retries with exponential backoff on timeouts, connection errors, 429 and 5xx, and the touch's
  idempotency key in the `Idempotency-Key` header and the body, so a gateway that has seen the key does not
  send again: a retry never sends twice. Requests go out from a few threads over one keep-alive client.

The gateway resolves the customer from the brand's own customer id: no phone number or name leaves here.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from django.core import mail

logger = logging.getLogger(__name__)

USER_AGENT = "clv-followups/1"
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Message:
    key: str  # the touch's idempotency key
    brand: str  # slug
    channel: str
    customer_id: str  # the brand's external id
    to: str  # an e-mail address for the e-mail channel, else ""
    subject: str
    body: str
    link: str
    sender: str = ""
    mass_send: int | None = None
    group_id: str = ""  # a post in a WeCom group: the group's external id (customer_id is then "")

    def payload(self) -> dict:
        return {
            "group_id": self.group_id,
            "key": self.key,
            "brand": self.brand,
            "channel": self.channel,
            "customer_id": self.customer_id,
            "subject": self.subject,
            "body": self.body,
            "link": self.link,
            "sender": self.sender,
            "mass_send": self.mass_send,
        }


@dataclass(frozen=True)
class Outcome:
    key: str
    ok: bool
    attempts: int
    rejected: bool = False  # the gateway refused the message (no retry helps)
    error: str = ""  # a short technical message, never the text or the person
    delivered: bool = False  # the gateway says it was delivered already


class ConsoleBackend:
    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        for m in messages:
            logger.info("touch sent (console): key=%s brand=%s channel=%s", m.key, m.brand, m.channel)
        return [Outcome(key=m.key, ok=True, attempts=1) for m in messages]


class EmailBackend:
    def __init__(self, from_email: str | None = None):
        self.from_email = from_email

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        outcomes = []
        with mail.get_connection() as connection:
            for m in messages:
                email = mail.EmailMessage(
                    subject=m.subject,
                    body=m.body,
                    from_email=self.from_email,
                    to=[m.to],
                    headers={"X-Touch-Key": m.key},
                    connection=connection,
                )
                try:
                    email.send()
                except Exception as exc:  # noqa: BLE001 - any backend failure fails this message only
                    outcomes.append(Outcome(key=m.key, ok=False, attempts=1, error=type(exc).__name__))
                    continue
                outcomes.append(Outcome(key=m.key, ok=True, attempts=1))
        return outcomes


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" with the brand's webhook secret: the signature of every webhook
    request the product sends and of every delivery receipt it accepts."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookBackend:
    """POST each message as JSON to `url`, signed: X-CLV-Timestamp (Unix seconds) and
    X-CLV-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>."""

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        timeout: float = 10.0,
        max_attempts: int = 3,
        backoff: float = 0.5,
        threads: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.url, self.secret = url, secret
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.threads = threads
        self.sleep = sleep
        self.transport = transport

    def send(self, messages: Sequence[Message]) -> list[Outcome]:
        limits = httpx.Limits(max_connections=self.threads, max_keepalive_connections=self.threads)
        with httpx.Client(
            timeout=httpx.Timeout(self.timeout), limits=limits, transport=self.transport
        ) as client:
            if len(messages) <= 1 or self.threads <= 1:
                return [self._send_one(client, m) for m in messages]
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                return list(pool.map(lambda m: self._send_one(client, m), messages))

    def _send_one(self, client: httpx.Client, message: Message) -> Outcome:
        body = json.dumps(message.payload(), ensure_ascii=False, separators=(",", ":")).encode()
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Idempotency-Key": message.key,
                "X-CLV-Timestamp": timestamp,
                "X-CLV-Signature": "sha256=" + sign(self.secret, timestamp, body),
            }
            try:
                response = client.post(self.url, content=body, headers=headers)
            except httpx.TimeoutException:
                error = "timeout"
            except httpx.TransportError as exc:
                error = type(exc).__name__
            else:
                if 200 <= response.status_code < 300:
                    delivered = False
                    with contextlib.suppress(ValueError, AttributeError):
                        delivered = response.json().get("status") == "delivered"
                    return Outcome(key=message.key, ok=True, attempts=attempt, delivered=delivered)
                error = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    return Outcome(key=message.key, ok=False, attempts=attempt, rejected=True, error=error)
            if attempt < self.max_attempts:
                self.sleep(self.backoff * 2 ** (attempt - 1))
        logger.warning(
            "webhook failed after %d attempts: key=%s error=%s", self.max_attempts, message.key, error
        )
        return Outcome(key=message.key, ok=False, attempts=self.max_attempts, error=error)
