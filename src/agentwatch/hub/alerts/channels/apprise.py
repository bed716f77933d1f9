"""Apprise: the rest of the world's services (Telegram, Teams, Matrix, ntfy, Pushover...).

``{name: phone, type: apprise, url_file: /run/secrets/apprise_url}`` where the file holds an
Apprise URL such as ``tgram://BOT_TOKEN/CHAT_ID`` (several, separated by spaces or commas,
all get the message). Needs the optional extra: ``pip install 'agentwatch[apprise]'``.
Apprise reports only success or failure, so every failure is retried until ``max_age``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from ...config import Node, Secret
from ..message import ACKNOWLEDGED, Notification
from .base import ChannelConfig, DeliveryError

__all__ = ["DEFAULT_RATE", "INSTALL", "AppriseChannel", "AppriseOptions", "parse"]

DEFAULT_RATE = 1.0
KEYS = ("url", "url_file")
INSTALL = "the apprise channel needs the apprise package: pip install 'agentwatch[apprise]'"


@dataclass(frozen=True)
class AppriseOptions:
    url: Secret | None


def parse(node: Node) -> AppriseOptions:
    if importlib.util.find_spec("apprise") is None:
        node.problem("type", INSTALL)
    return AppriseOptions(url=node.secret("url", required=True))


def _apprise() -> Any:
    try:
        import apprise
    except ImportError:
        raise DeliveryError(INSTALL, permanent=True) from None
    return apprise


class AppriseChannel:
    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.options: AppriseOptions = config.options

    async def send(self, notification: Notification) -> None:
        assert self.options.url is not None
        apprise = _apprise()
        sender = apprise.Apprise()
        if not sender.add(self.options.url.reveal()):
            raise DeliveryError(
                f"apprise channel {self.config.name}: the URL is not one Apprise knows",
                permanent=True,
            )
        kind = {
            "firing": apprise.NotifyType.FAILURE,
            "resolved": apprise.NotifyType.SUCCESS,
            ACKNOWLEDGED: apprise.NotifyType.WARNING,
        }.get(notification.status, apprise.NotifyType.INFO)
        ok = await sender.async_notify(
            body=notification.text(), title=notification.title, notify_type=kind
        )
        if not ok:
            raise DeliveryError(
                f"apprise channel {self.config.name}: the service refused or was unreachable"
            )
