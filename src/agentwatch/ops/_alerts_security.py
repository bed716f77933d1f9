"""Alert rules for the security pack: logins, rate limits, authorisation denials, lockouts,
token refreshes, blocked requests and suspicious activity.

Counts are ``increase`` over a window (not per-second rates), so a threshold keeps its
meaning when a profile compresses time.
"""

from __future__ import annotations

from dataclasses import replace

from ._rules import AlertRule, RuleContext, Scenario, Series, counter

__all__ = ["security_rules"]

_LOGINS = "auth_login_attempts_total"
_LOCKOUTS = "auth_account_lockouts_total"
_REFRESHES = "auth_token_refreshes_total"
_BLOCKED = "security_blocked_requests_total"
_SUSPICIOUS = "security_suspicious_activity_total"


def _count_rule(
    c: RuleContext,
    name: str,
    metric: str,
    matcher: tuple[str, ...],
    threshold: int,
    minutes: int,
    summary: str,
    fire: Series,
    quiet: tuple[Series, ...],
) -> AlertRule:
    total = c.sum_rate("service", metric, *matcher, minutes=minutes, fn="increase")
    return AlertRule(
        name=name,
        pack="security",
        severity="warning",
        expr=f"{total} > {threshold}",
        for_minutes=1,
        summary=f"{{{{ $labels.service }}}}: {summary}",
        description=f"{{{{ $labels.service }}}}: {summary} (more than {threshold} in "
        f"{minutes} minutes).",
        scenario=Scenario(fire=(fire, *quiet[1:]), quiet=quiet),
        impact="An attacker may be probing the service, or a client is misbehaving.",
        diagnosis=(
            (f"Count over {minutes}m", total),
            (
                "Login attempts by result",
                c.sum_rate("result", _LOGINS, minutes=minutes, fn="increase"),
            ),
        ),
        resolution=(
            "Find the source addresses in the access logs; block or throttle them.",
            "Check that rate limits and account lockout are on.",
        ),
    )


def security_rules(c: RuleContext) -> list[AlertRule]:
    """The original three (logins, rate limits, denials), then the account and request ones."""
    return [*_login_rules(c), _lockouts(c), _token_refreshes(c), _blocked(c), _suspicious(c)]


def _login_rules(c: RuleContext) -> list[AlertRule]:
    logins, limits, denials = (_LOGINS, "rate_limit_hits_total", "authz_denials_total")
    locked = c.sum_rate("service", logins, 'result="locked"', minutes=10, fn="increase")
    suspicious = _count_rule(
        c,
        "SuspiciousActivity",
        denials,
        (),
        20,
        10,
        "many authorisation denials or lockouts",
        counter(denials, 30, resource="admin"),
        (counter(denials, 1, resource="admin"), counter(logins, 0, result="locked")),
    )
    return [
        _count_rule(
            c,
            "BruteForceLogin",
            logins,
            ('result="failure"',),
            20,
            5,
            "many failed logins",
            counter(logins, 30, result="failure"),
            (counter(logins, 2, result="failure"), counter(logins, 50, result="success")),
        ),
        _count_rule(
            c,
            "RateLimitViolations",
            limits,
            (),
            100,
            5,
            "many rate-limited requests",
            counter(limits, 150, route="/api/chat"),
            (counter(limits, 5, route="/api/chat"),),
        ),
        replace(suspicious, expr=f"{suspicious.expr} or {locked} > 0"),
    ]


def _lockouts(c: RuleContext) -> AlertRule:
    count = c.sum_rate("service", _LOCKOUTS, minutes=15, fn="increase")
    return AlertRule(
        name="AccountLockoutsHigh",
        pack="security",
        severity="warning",
        expr=f"{count} > 10",
        for_minutes=1,
        summary="{{ $labels.service }}: more than 10 accounts locked in 15 minutes",
        description="{{ $labels.service }} locked more than 10 accounts within 15 minutes.",
        scenario=Scenario(
            fire=(counter(_LOCKOUTS, 20, reason="failed_logins"),),
            quiet=(counter(_LOCKOUTS, 0, reason="failed_logins"),),
        ),
        impact="Users cannot sign in; many lockouts at once usually mean credential stuffing.",
        diagnosis=(
            ("Lockouts by reason", c.sum_rate("reason", _LOCKOUTS, minutes=15, fn="increase")),
            ("Login attempts by result", c.sum_rate("result", _LOGINS, minutes=15, fn="increase")),
        ),
        resolution=(
            "Find the source addresses of the failed logins in the access logs; block them "
            "at the edge rather than locking more accounts.",
            "Tell the locked users how to unlock; consider requiring a second factor.",
        ),
    )


def _token_refreshes(c: RuleContext) -> AlertRule:
    failed = 'result!="success"'
    return AlertRule(
        name="TokenRefreshFailing",
        pack="security",
        severity="warning",
        expr=f"{c.ratio('service', _REFRESHES, failed, minutes=10)} > 0.2",
        for_minutes=10,
        summary="{{ $labels.service }}: more than 20% of token refreshes fail",
        description="More than 20% of the access-token refreshes of {{ $labels.service }} "
        "failed over 10 minutes, for 10 minutes.",
        scenario=Scenario(
            fire=(
                counter(_REFRESHES, 6, result="success"),
                counter(_REFRESHES, 4, result="failure"),
            ),
            quiet=(
                counter(_REFRESHES, 99, result="success"),
                counter(_REFRESHES, 1, result="failure"),
            ),
        ),
        impact="Users are signed out mid-session; a wave of reused tokens may be token theft.",
        diagnosis=(("Refreshes by result", c.sum_rate("result", _REFRESHES, minutes=10)),),
        resolution=(
            "If the failures are 'reused', revoke the token families involved and look for "
            "the clients replaying them.",
            "Otherwise check the identity provider and the signing keys (a rotated key the "
            "service does not know yet fails every refresh).",
        ),
    )


def _blocked(c: RuleContext) -> AlertRule:
    count = c.sum_rate("service, reason", _BLOCKED, minutes=5, fn="increase")
    return AlertRule(
        name="BlockedRequestsSpike",
        pack="security",
        severity="warning",
        expr=f"{count} > 100",
        for_minutes=1,
        summary="{{ $labels.service }}: many requests blocked ({{ $labels.reason }})",
        description="{{ $labels.service }} refused more than 100 requests for "
        "{{ $labels.reason }} within 5 minutes.",
        scenario=Scenario(
            fire=(counter(_BLOCKED, 150, reason="waf"),),
            quiet=(counter(_BLOCKED, 5, reason="waf"),),
            labels={"reason": "waf"},
        ),
        impact="An attack is under way and being stopped, or a legitimate client is refused.",
        diagnosis=(("Blocked by reason", count),),
        resolution=(
            "Look at the blocked requests' sources and paths in the access logs.",
            "If a legitimate client is refused, fix the rule that matches it; otherwise "
            "block the sources at the edge.",
        ),
    )


def _suspicious(c: RuleContext) -> AlertRule:
    count = c.sum_rate("service, type", _SUSPICIOUS, minutes=10, fn="increase")
    return AlertRule(
        name="SuspiciousActivityDetected",
        pack="security",
        severity="warning",
        expr=f"{count} > 0",
        for_minutes=0,
        summary="{{ $labels.service }}: suspicious activity ({{ $labels.type }})",
        description="{{ $labels.service }} detected suspicious activity of type "
        "{{ $labels.type }} in the last 10 minutes.",
        scenario=Scenario(
            fire=(counter(_SUSPICIOUS, 1, type="token_reuse"),),
            quiet=(counter(_SUSPICIOUS, 0, type="token_reuse"),),
            labels={"type": "token_reuse"},
        ),
        impact="An account, a token or an agent's prompt may be compromised.",
        diagnosis=(
            ("Suspicious activity by type", count),
            ("Authorisation denials by resource", c.sum_rate("resource", "authz_denials_total")),
        ),
        resolution=(
            "Find the traces and logs of the detection (the span event names the type); "
            "revoke the sessions or tokens involved.",
            "For prompt_injection, check what the agent's tools did in that trace.",
        ),
    )
