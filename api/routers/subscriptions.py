"""Notification subscriptions: which alerts go to which webhook or e-mail address (admins)."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.auth import Admin
from api.deps import RegistryDep
from api.ids import RowId
from api.refusals import KEY_NEEDED, invalid, not_found, registry_refusals
from api.schemas.alerts import (
    NewSubscriptionBody,
    Subscription,
    SubscriptionChanges,
    SubscriptionList,
)
from storage.registry import FieldProblem, NewSubscription

router = APIRouter(prefix="/subscriptions", tags=["alerts"], responses=KEY_NEEDED)

NO_SUBSCRIPTION = not_found("subscription")


@router.get("", summary="List subscriptions", response_model=SubscriptionList)
def list_subscriptions(_: Admin, registry: RegistryDep) -> SubscriptionList:
    """Every subscription; secrets are never shown."""
    found = registry.subscriptions()
    return SubscriptionList(count=len(found), subscriptions=[Subscription.of(s) for s in found])


@router.post(
    "",
    summary="Add a subscription",
    response_model=Subscription,
    status_code=status.HTTP_201_CREATED,
)
def create_subscription(
    caller: Admin, body: NewSubscriptionBody, registry: RegistryDep
) -> Subscription:
    """Send alerts of these routes/domains at or above `min_severity` to a webhook (signed
    with HMAC-SHA256 using `secret`) or an e-mail address. Audited without the secret."""
    values = body.model_dump()
    values["routes"] = tuple(values["routes"])
    values["domains"] = tuple(values["domains"])
    with registry_refusals():
        record = registry.create_subscription(NewSubscription(**values), actor=caller.actor)
    return Subscription.of(record)


@router.patch(
    "/{subscription_id}",
    summary="Change a subscription",
    response_model=Subscription,
    responses=NO_SUBSCRIPTION,
)
def update_subscription(
    caller: Admin, subscription_id: RowId, changes: SubscriptionChanges, registry: RegistryDep
) -> Subscription:
    """Change only the fields sent."""
    values = changes.model_dump(exclude_unset=True)
    cleared = [name for name, value in values.items() if value is None and name != "secret"]
    if cleared:
        raise invalid([FieldProblem(name, f"'{name}' cannot be empty") for name in cleared])
    for name in ("routes", "domains"):
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    with registry_refusals():
        record = registry.update_subscription(subscription_id, values, actor=caller.actor)
    return Subscription.of(record)


@router.delete(
    "/{subscription_id}",
    summary="Delete a subscription",
    response_model=Subscription,
    responses=NO_SUBSCRIPTION,
)
def delete_subscription(
    caller: Admin, subscription_id: RowId, registry: RegistryDep
) -> Subscription:
    with registry_refusals():
        record = registry.delete_subscription(subscription_id, actor=caller.actor)
    return Subscription.of(record)
