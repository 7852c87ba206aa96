"""Who is in a consumer group and which partitions each member owns.

Read from the group coordinator (DescribeGroups), so it shows the live assignment even
when a member crashed a second ago and the broker has not yet noticed: a member only
leaves the list after ``session.timeout`` without a heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import GroupCoordinatorNotAvailableError, KafkaError, for_code

from schemas.settings import Settings
from streams.ops.errors import OpsError
from streams.ops.kafka import admin_client

# States with nobody consuming: offsets may be reset.
INACTIVE_STATES = frozenset({"Empty", "Dead"})


@dataclass(frozen=True)
class Member:
    member_id: str
    client_id: str
    host: str
    partitions: dict[str, list[int]] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        """The tail of the member id: client ids are alike (every Faust worker says
        ``faust-<version>``), the member id's random tail tells members apart."""
        return self.member_id[-8:]

    def to_json(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "short_id": self.short_id,
            "client_id": self.client_id,
            "host": self.host,
            "partitions": self.partitions,
        }


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str  # Stable, PreparingRebalance, CompletingRebalance, Empty, Dead
    protocol: str
    members: list[Member]

    @property
    def active(self) -> bool:
        return bool(self.members) or self.state not in INACTIVE_STATES

    def owner_of(self, topic: str, partition: int) -> Member | None:
        for m in self.members:
            if partition in m.partitions.get(topic, ()):
                return m
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "state": self.state,
            "protocol": self.protocol,
            "members": [m.to_json() for m in self.members],
        }


def _assignment(raw: bytes) -> dict[str, list[int]]:
    """A member's partitions from its assignment bytes (the standard consumer protocol,
    which Faust's assignor also uses); {} while a rebalance has not handed them out."""
    if not raw:
        return {}
    try:
        decoded = ConsumerProtocolMemberAssignment.decode(raw)
    except Exception:
        return {}
    out: dict[str, list[int]] = {}
    for topic, parts in decoded.assignment:
        out.setdefault(topic, []).extend(parts)
    return {t: sorted(p) for t, p in sorted(out.items())}


async def describe_group_with(admin: AIOKafkaAdminClient, group: str) -> GroupState:
    try:
        responses = await admin.describe_consumer_groups([group])
    except GroupCoordinatorNotAvailableError:  # a fresh broker has no __consumer_offsets yet
        return GroupState(group, "Dead", "", [])
    except KafkaError as exc:
        raise OpsError(f"cannot describe consumer group {group!r}: {exc}") from None
    for response in responses:
        for g in response.groups:
            error_code, name, state, _ptype, protocol, members = g[:6]
            if name != group:
                continue
            if error_code:
                raise OpsError(f"cannot describe consumer group {group!r}: {for_code(error_code)}")
            return GroupState(
                group,
                state,
                protocol,
                sorted(
                    (Member(m[0], m[1], m[2], _assignment(m[4])) for m in members),
                    key=lambda m: (m.client_id, m.member_id),
                ),
            )
    return GroupState(group, "Dead", "", [])


async def describe_group(settings: Settings, group: str | None = None) -> GroupState:
    """The group's state and members (default: the sink's group)."""
    async with admin_client(settings) as admin:
        return await describe_group_with(admin, group or settings.consumer_group)


async def known_groups(admin: AIOKafkaAdminClient) -> list[str]:
    try:
        return sorted(str(g[0]) for g in await admin.list_consumer_groups())
    except KafkaError:
        return []
