"""Domain refusals: ``SimError`` and its subclasses, named after the condition, with no HTTP in them.

Each API's HTTP layer maps a refusal to that API's status code and error body (``rivosim.http.errors``).
A refusal is raised *before* anything changes, so a refused request changes nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiAccessDenied",
    "Conflict",
    "CustomerExcluded",
    "EarningRuleDisabled",
    "InsufficientBalance",
    "InsufficientPoints",
    "InvalidConfig",
    "MalformedRequest",
    "NotFound",
    "PlanWithoutApiAccess",
    "ProgramInactive",
    "RateLimited",
    "SimError",
    "TooManyRequestsForSync",
    "Unauthorized",
    "ValidationFailed",
]


class SimError(Exception):
    """A refusal the simulated service would give. ``code`` is stable; ``message`` explains itself."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


class NotFound(SimError):
    code = "not_found"


class ValidationFailed(SimError):
    code = "validation_failed"


class MalformedRequest(ValidationFailed):
    """Input that cannot be read at all (not JSON, wrong content type, empty body): 400, not 422."""

    code = "bad_request"


class InvalidConfig(ValidationFailed):
    """A shop configuration document that does not match the schema; ``field`` is its JSON path."""

    code = "invalid_config"


class Conflict(SimError):
    code = "conflict"


class AlreadyExists(Conflict):
    code = "already_exists"


class Unauthorized(SimError):
    code = "unauthorized"


class ApiAccessDenied(SimError):
    code = "forbidden"


class PlanWithoutApiAccess(ApiAccessDenied):
    code = "plan_without_api_access"


class InsufficientBalance(ValidationFailed):
    code = "insufficient_balance"


class InsufficientPoints(InsufficientBalance):
    code = "insufficient_points"


class ProgramInactive(ValidationFailed):
    code = "program_inactive"


class EarningRuleDisabled(ValidationFailed):
    code = "earning_rule_disabled"


class CustomerExcluded(ValidationFailed):
    code = "customer_excluded"


class RateLimited(SimError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class TooManyRequestsForSync(RateLimited):
    """A manual integration sync asked for within an hour of the previous one."""

    code = "sync_too_soon"
