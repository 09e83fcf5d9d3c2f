"""Discord alerts that never block or fail trading.

`enqueue` only puts a message on a bounded queue (a full queue drops the message with a
warning); one daemon thread posts them to DISCORD_WEBHOOK_URL. Each message is retried with
exponential backoff on network errors and 5xx, and after a 429 waits the `retry_after` Discord
sends (JSON body, else the Retry-After header), all within a per-message deadline. `flush`
waits a bounded time at the end of a run so queued messages get out before the process ends.

Texts come from formatters that use signal and position fields only; every configured secret
(key, CLOB credentials, the webhook URL itself) is also scrubbed from the text before sending,
and from httpx's log lines (httpx logs every request's full URL, and the webhook's carries a token).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

import httpx

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 0.5
MAX_WAIT_SECONDS = 30.0
MESSAGE_DEADLINE_SECONDS = 60.0
QUEUE_SIZE = 200
CONTENT_LIMIT = 2000  # Discord's message length limit


def scrub(text: str, secrets: Iterable[str]) -> str:
    # Longest first: a short secret that is part of a longer one (a bare "http://" webhook is
    # one) must not break the longer one's match and leave the rest of it in the text.
    for s in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        text = text.replace(s, "[redacted]")
    return text


def url_secrets(url: str | None) -> list[str]:
    """A secret URL and its last path segment (a Discord webhook's token), each scrubbed on its own."""
    if not url:
        return []
    token = url.rstrip("/").rsplit("/", 1)[-1]
    return [url] + ([token] if "://" not in token and len(token) >= 6 else [])


class _ScrubSecrets(logging.Filter):
    """Rewrites a record's message with the registered secrets replaced (installed on httpx's logger)."""

    def __init__(self):
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = scrub(record.getMessage(), self.secrets), ()
        return True


_httpx_scrubber = _ScrubSecrets()
logging.getLogger("httpx").addFilter(_httpx_scrubber)


def _retry_after_seconds(r: httpx.Response) -> float:
    try:
        body = r.json()
        if isinstance(body, dict) and body.get("retry_after") is not None:
            return float(body["retry_after"])
    except ValueError:
        pass
    try:
        return float(r.headers.get("retry-after", "1"))
    except ValueError:
        return 1.0


class DiscordAlerter:
    def __init__(self, webhook_url: str | None, secrets: Iterable[str] = (), timeout: float = 5.0,
                 backoff_base: float = BACKOFF_BASE_SECONDS, deadline: float = MESSAGE_DEADLINE_SECONDS):
        self._url = webhook_url
        self._secrets = [s for s in (*secrets, *url_secrets(webhook_url)) if s]
        _httpx_scrubber.secrets.update(self._secrets)
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._timeout = timeout
        self._backoff_base = backoff_base
        self._deadline = deadline
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.dropped = 0

    def __repr__(self) -> str:  # the webhook URL carries a token
        return f"DiscordAlerter(enabled={self.enabled}, sent={self.sent}, dropped={self.dropped})"

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def enqueue(self, text: str) -> None:
        """Queue one alert; returns at once whatever Discord does."""
        if not self.enabled:
            return
        self._ensure_thread()
        try:
            self._queue.put_nowait(scrub(text, self._secrets)[:CONTENT_LIMIT])
        except queue.Full:
            self.dropped += 1
            log.warning("alert queue full: alert dropped")

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait at most `timeout` s for queued alerts to be delivered (or given up); True if the queue drained."""
        if self._thread is None:
            return True
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return self._queue.unfinished_tasks == 0

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._worker, name="discord-alerts", daemon=True)
            self._thread.start()

    def _worker(self) -> None:
        with httpx.Client(timeout=self._timeout) as http:
            while True:
                text = self._queue.get()
                try:
                    self._deliver(http, text)
                except Exception as e:  # never let one alert kill the worker
                    log.warning("alert not delivered: %s", type(e).__name__)
                finally:
                    self._queue.task_done()

    def _deliver(self, http: httpx.Client, text: str) -> None:
        end = time.monotonic() + self._deadline
        for attempt in range(MAX_ATTEMPTS):
            wait = self._backoff_base * 2 ** attempt
            try:
                r = http.post(self._url, json={"content": text, "allowed_mentions": {"parse": []}})
                if r.status_code < 300:
                    self.sent += 1
                    return
                if r.status_code == 429:
                    wait = _retry_after_seconds(r)
                elif r.status_code < 500:
                    log.warning("Discord refused an alert: HTTP %s", r.status_code)
                    return
            except httpx.HTTPError as e:
                log.info("alert delivery attempt %d failed: %s", attempt + 1, type(e).__name__)
            wait = min(max(wait, 0.0), MAX_WAIT_SECONDS)
            if time.monotonic() + wait > end:
                break
            time.sleep(wait)
        log.warning("alert given up after %d attempts", attempt + 1)


# --- what the alerts say (signal and position fields only) ----------------------------------

def make_alerter(cfg) -> DiscordAlerter:
    """The alerter TradingSettings ask for (disabled without DISCORD_WEBHOOK_URL)."""
    url = cfg.discord_webhook_url.get_secret_value() if cfg.discord_webhook_url else None
    return DiscordAlerter(url, secrets=cfg.secret_values())


def _money(x) -> str:
    return f"${float(x):,.2f}"


def high_confidence_signal(signal_type: str, title: str, outcome: str, confidence: float, wallet: str, price: float) -> str:
    return (f"**{signal_type}** signal ({confidence:.2f}): {title} — buy *{outcome}* "
            f"after {wallet[:10]}… bought at {price:.3f}")


def execution(signal_type: str, title: str, outcome: str, side: str, shares, price, cost, broker: str) -> str:
    return f"**Executed** ({broker}) {signal_type}: {side} {float(shares):,.2f} *{outcome}* @ {float(price):.4f} ({_money(cost)}) — {title}"


def result(title: str, outcome: str, won: bool, pnl) -> str:
    return f"**{'WIN' if won else 'LOSS'}** {title} — *{outcome}*: realised {_money(pnl)}"


def daily_loss_pause(daily_pnl: float, limit: float, until) -> str:
    return f"**Trading paused**: daily P&L {_money(daily_pnl)} reached MAX_DAILY_LOSS {_money(limit)}; new entries resume {until:%Y-%m-%d %H:%M} UTC"


def live_order_failed(signal_type: str, title: str, reason: str) -> str:
    return f"**Live order FAILED** {signal_type} — {title}: {reason}"
