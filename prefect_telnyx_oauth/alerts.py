"""A ready Prefect Automation per block: alert before auth breaks the pipelines that use it.

`create_token_alert("prod-telnyx", notify=["slack-webhook/ops"])` makes (or updates) one
Automation, named after the block, that runs the actions you name when either

- `failures` `telnyx.oauth.token.failed` events of the block arrive within `within_minutes`
  (an outage that retries did not cure, again and again), or
- any one failure that no retry can cure arrives (`telnyx.oauth.retryable` is `false`: the
  secret was refused, a user's refresh token was revoked, a setting is wrong).

The name is stable, so creating it again replaces its trigger and actions and leaves one
Automation; `remove_token_alert` deletes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect.automations import (
    AutomationCore,
    CallWebhook,
    CompoundTrigger,
    EventTrigger,
    PauseDeployment,
    Posture,
    SendNotification,
)
from prefect.client.orchestration import PrefectClient, get_client
from prefect.events.schemas.automations import Automation
from prefect.exceptions import ObjectNotFound
from prefect.utilities.asyncutils import run_coro_as_sync

from prefect_telnyx_oauth.events import RETRYABLE_LABEL, TOKEN_FAILED, block_resource_id
from telnyx_oauth.errors import ConfigurationError

__all__ = [
    "DEFAULT_FAILURES",
    "DEFAULT_WITHIN_MINUTES",
    "acreate_token_alert",
    "aremove_token_alert",
    "automation_name",
    "create_token_alert",
    "remove_token_alert",
]

BLOCK_TYPE_SLUG = "telnyx-oauth-credentials"
DEFAULT_FAILURES = 3
DEFAULT_WITHIN_MINUTES = 10.0

_SUBJECT = "Telnyx token failed for block {{ event.resource['prefect.resource.name'] }}"
_BODY = (
    "No Telnyx token for block {{ event.resource['prefect.resource.name'] }}: "
    "{{ event.payload.error_class }} ({{ event.payload.error or 'no OAuth error code' }}), "
    "retryable={{ event.payload.retryable }}, grant={{ event.payload.grant }}, "
    "attempts={{ event.payload.attempts }}.\n{{ event.payload.message }}"
)
_WEBHOOK_PAYLOAD = (
    '{"event": "{{ event.event }}", "block": "{{ event.resource[\'prefect.resource.name\'] }}", '
    '"error_class": "{{ event.payload.error_class }}", "error": "{{ event.payload.error }}", '
    '"retryable": "{{ event.payload.retryable }}", "attempts": "{{ event.payload.attempts }}"}'
)


def automation_name(block: str) -> str:
    """The stable name of the alert Automation of the block named `block`."""
    return f"telnyx-oauth token failures: {block}"


async def acreate_token_alert(
    block: str,
    *,
    notify: Sequence[str] = (),
    webhook: str | None = None,
    pause_deployments: Sequence[str] = (),
    failures: int = DEFAULT_FAILURES,
    within_minutes: float = DEFAULT_WITHIN_MINUTES,
) -> Automation:
    """Create, or bring up to date, the alert Automation of a saved block.

    Args:
        block: The name of a saved Telnyx OAuth Credentials block.
        notify: Notification blocks, as `block-type-slug/name` (`slack-webhook/ops`,
            `email/oncall`, `custom-webhook/pager`), each sent the failure.
        webhook: The name of a Webhook block (`prefect.blocks.webhook.Webhook`) to call with
            a JSON summary of the failure.
        pause_deployments: Deployments (`flow-name/deployment-name`) to pause.
        failures: This many failures of any kind within `within_minutes` fire it.
        within_minutes: The window of `failures`.

    Returns:
        The Automation as the Prefect API holds it.

    Raises:
        ConfigurationError: no action, a bad threshold, or a block, notification block or
            deployment that does not exist (nothing is created then).
    """
    if not (notify or webhook or pause_deployments):
        msg = (
            f"No action for the alert of block {block!r}: name a notification block "
            "(notify='slack-webhook/ops'), a webhook block, or deployments to pause."
        )
        raise ConfigurationError(msg)
    if failures < 1 or within_minutes <= 0:
        msg = (
            f"failures={failures} within_minutes={within_minutes:g} cannot fire: use at least "
            "one failure within a positive number of minutes."
        )
        raise ConfigurationError(msg)
    async with get_client() as client:
        document_id = await _block_document_id(client, BLOCK_TYPE_SLUG, block)
        actions: list[Any] = [
            SendNotification(
                block_document_id=await _notification_block_id(client, target),
                subject=_SUBJECT,
                body=_BODY,
            )
            for target in notify
        ]
        if webhook is not None:
            webhook_id = await _block_document_id(client, "webhook", webhook)
            actions.append(CallWebhook(block_document_id=webhook_id, payload=_WEBHOOK_PAYLOAD))
        for deployment in pause_deployments:
            actions.append(PauseDeployment(deployment_id=await _deployment_id(client, deployment)))
        resource_id = block_resource_id(document_id, "")
        automation = AutomationCore(
            name=automation_name(block),
            description=(
                f"Made by prefect-telnyx-oauth for block {block!r}: {failures} token failures "
                f"within {within_minutes:g} min, or any failure a retry cannot cure."
            ),
            trigger=_trigger(resource_id, failures, within_minutes),
            actions=actions,
        )
        existing = await client.read_automations_by_name(automation.name)
        if not existing:
            automation_id = await client.create_automation(automation)
        else:
            automation_id = existing[0].id
            # Not client.update_automation: it sends only the fields set by hand, and the
            # server cannot tell the nested triggers apart without their defaults.
            response = await client.request(
                "PUT",
                "/automations/{id}",
                path_params={"id": automation_id},
                json=automation.model_dump(mode="json", exclude={"owner_resource"}),
            )
            response.raise_for_status()
            for duplicate in existing[1:]:  # two racing creates converge on the next run
                await client.delete_automation(duplicate.id)
        created = await client.read_automation(automation_id)
    if created is None:  # deleted by someone else in between: say so rather than return None
        msg = f"The Automation {automation.name!r} vanished while being set up; run again."
        raise ConfigurationError(msg)
    return created


def create_token_alert(block: str, **options: Any) -> Automation:
    """Sync twin of `acreate_token_alert`, with the same keyword arguments."""
    return run_coro_as_sync(acreate_token_alert(block, **options))


async def aremove_token_alert(block: str) -> int:
    """Delete the alert Automation of the block named `block`; returns how many were deleted
    (0 when there was none)."""
    async with get_client() as client:
        existing = await client.read_automations_by_name(automation_name(block))
        for automation in existing:
            await client.delete_automation(automation.id)
    return len(existing)


def remove_token_alert(block: str) -> int:
    """Sync twin of `aremove_token_alert`."""
    return run_coro_as_sync(aremove_token_alert(block))


def _trigger(resource_id: str, failures: int, within_minutes: float) -> CompoundTrigger:
    def on_failure(labels: dict[str, str], threshold: int, within: timedelta) -> EventTrigger:
        return EventTrigger(
            expect={TOKEN_FAILED},
            match={"prefect.resource.id": resource_id, **labels},
            posture=Posture.Reactive,
            threshold=threshold,
            within=within,
        )

    return CompoundTrigger(
        require="any",
        triggers=[
            on_failure({}, failures, timedelta(minutes=within_minutes)),
            on_failure({RETRYABLE_LABEL: "false"}, 1, timedelta(0)),
        ],
    )


async def _block_document_id(client: PrefectClient, slug: str, name: str) -> UUID:
    try:
        document = await client.read_block_document_by_name(name, block_type_slug=slug)
    except ObjectNotFound:
        msg = (
            f"No {slug} block named {name!r} on the Prefect API. Save it first "
            "(`prefect block ls` lists the saved ones)."
        )
        raise ConfigurationError(msg) from None
    return document.id


async def _notification_block_id(client: PrefectClient, target: str) -> UUID:
    slug, _, name = target.partition("/")
    if not slug or not name:
        msg = (
            f"Notification block {target!r} is not block-type-slug/name; for example "
            "'slack-webhook/ops' (`prefect block ls` shows slugs and names)."
        )
        raise ConfigurationError(msg)
    return await _block_document_id(client, slug, name)


async def _deployment_id(client: PrefectClient, name: str) -> UUID:
    try:
        deployment = await client.read_deployment_by_name(name)
    except (ObjectNotFound, ValueError):
        msg = (
            f"No deployment {name!r} on the Prefect API; name it flow-name/deployment-name "
            "(`prefect deployment ls` lists them)."
        )
        raise ConfigurationError(msg) from None
    return deployment.id
