"""A DynamoDB table of revoked token ids (``jti``), with a TTL: the stateful half of logout.

A signed access token stays valid until its ``exp``; to stop one sooner, the API must
remember it was revoked and look every request up. :class:`DenylistTable` is that memory:
one item per revoked ``jti``, whose ``expires_at`` attribute is the token's own ``exp``,
declared as the table's TTL attribute so DynamoDB deletes the item once the token would
have expired anyway. The table never holds more than one token lifetime of logouts.

DynamoDB's TTL deletes expired items in the background, typically within a few days,
not at the second ("Expire data with Amazon DynamoDB Time to Live", AWS DynamoDB
developer guide): a reader must still compare ``expires_at`` with the time. moto stores
the TTL setting and does not delete anything. The decision (revoked or not) is the
notebook's exercise; this module only stores and fetches, and times the lookups.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import ConfigurationError

__all__ = ["TTL_ATTRIBUTE", "DenylistTable", "time_calls"]

TTL_ATTRIBUTE = "expires_at"
"""The attribute DynamoDB's TTL reads: seconds since the epoch, a Number."""


class DenylistTable:
    """A DynamoDB table keyed on ``jti``, with TTL on :data:`TTL_ATTRIBUTE`.

    ``dynamodb`` is a boto3 DynamoDB *client* (``authlab.client("dynamodb")``).
    """

    def __init__(self, dynamodb: Any, name: str = "authlab-denylist") -> None:
        self.dynamodb = dynamodb
        self.name = name
        self.reads = 0
        """How many lookups (GetItem calls) this object made."""

    def create(self) -> DenylistTable:
        """Create the table (on-demand billing) and turn TTL on; does nothing if it exists."""
        existing = self.dynamodb.list_tables().get("TableNames", [])
        if self.name not in existing:
            self.dynamodb.create_table(
                TableName=self.name,
                KeySchema=[{"AttributeName": "jti", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "jti", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            self.dynamodb.get_waiter("table_exists").wait(
                TableName=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
            )
            self.dynamodb.update_time_to_live(
                TableName=self.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
        return self

    def ttl_attribute(self) -> str | None:
        """The attribute the table's TTL reads, or ``None`` when TTL is off."""
        answer = self.dynamodb.describe_time_to_live(TableName=self.name)
        spec = answer.get("TimeToLiveDescription", {})
        return spec.get("AttributeName") if spec.get("TimeToLiveStatus") == "ENABLED" else None

    def put(self, jti: str, expires_at: float, **extra: str) -> None:
        """Store ``jti`` until ``expires_at`` (whole seconds since the epoch); ``extra``: strings."""
        if not jti:
            raise ConfigurationError("A denylist entry needs the token's jti.")
        item = {"jti": {"S": jti}, TTL_ATTRIBUTE: {"N": str(int(expires_at))}}
        item.update({k: {"S": str(v)} for k, v in extra.items()})
        self.dynamodb.put_item(TableName=self.name, Item=item)

    def get(self, jti: str) -> dict[str, Any] | None:
        """The entry for ``jti`` as ``{"jti": ..., "expires_at": int, ...}``, or ``None``.

        A strongly consistent read: a logout must be seen by the very next request.
        """
        self.reads += 1
        answer = self.dynamodb.get_item(
            TableName=self.name, Key={"jti": {"S": jti}}, ConsistentRead=True
        )
        item = answer.get("Item")
        if item is None:
            return None
        entry: dict[str, Any] = {}
        for key, value in item.items():
            entry[key] = int(value["N"]) if "N" in value else value.get("S")
        return entry

    def count(self) -> int:
        """How many entries the table holds (a scan: for demos, not for production)."""
        return int(self.dynamodb.scan(TableName=self.name, Select="COUNT")["Count"])

    def __repr__(self) -> str:
        return f"DenylistTable({self.name!r})"


def time_calls(func: Any, args: list[Any], *, repeat: int = 1) -> list[float]:
    """Seconds each ``func(arg)`` took (best of ``repeat`` runs per argument)."""
    times = []
    for arg in args:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            func(arg)
            best = min(best, time.perf_counter() - started)
        times.append(best)
    return times
