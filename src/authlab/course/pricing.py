"""A cost model for serverless auth, read from ``data/pricing.json``.

Every price in the file carries its source URL, the date it was read and a status:
``checked`` (confirmed against the source) or ``example`` (an input an instructor must
check before teaching from it). Nothing here hard-codes a price.

>>> book = load_prices()
>>> book.mau_cost("cognito-essentials", 25_000)  # 15,000 paid MAUs at $0.015
225.0

Per-MAU plans are *graduated*: each band of users is billed at its own rate, like
income tax. :meth:`PriceBook.lambda_cost` and :meth:`PriceBook.http_api_cost` price
requests; :meth:`PriceBook.saved_by_gateway` is the Lambda compute a gateway saves by
rejecting requests before the function runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import data_path
from ..errors import ConfigurationError

__all__ = [
    "Band",
    "Figure",
    "LambdaCost",
    "Plan",
    "PriceBook",
    "graduated_cost",
    "load_prices",
]


@dataclass(frozen=True)
class Band:
    """Units up to ``up_to`` (``None``: no limit) cost ``price`` each."""

    up_to: float | None
    price: float


def graduated_cost(bands: tuple[Band, ...] | list[Band], units: float) -> float:
    """The cost of ``units`` when each band is billed at its own price.

    ``bands`` are in increasing order of ``up_to``; the last may be open (``None``).
    """
    if units < 0:
        raise ValueError(f"units must be 0 or more, got {units}")
    total, lower = 0.0, 0.0
    for band in bands:
        upper = math.inf if band.up_to is None else float(band.up_to)
        if units > lower:
            total += (min(units, upper) - lower) * band.price
        lower = upper
        if units <= lower:
            break
    return total


@dataclass(frozen=True)
class Plan:
    """A per-user price plan (per MAU), with where its prices come from."""

    key: str
    label: str
    unit: str
    bands: tuple[Band, ...]
    source: str
    read: str
    status: str
    note: str = ""

    @property
    def free_units(self) -> float:
        """How many units a month cost nothing (0 when the first band is paid)."""
        first = self.bands[0]
        return float(first.up_to) if first.price == 0 and first.up_to is not None else 0.0

    def cost(self, units: float) -> float:
        """The monthly cost of ``units`` (e.g. MAUs) on this plan, in USD."""
        return graduated_cost(self.bands, units)

    def describe(self) -> str:
        """The bands in words: ``"free to 10,000, then $0.0055 to 100,000, $0.0046 above"``."""
        parts, lower = [], 0
        for band in self.bands:
            rate = "free" if band.price == 0 else f"${band.price:g}"
            upper = f" to {band.up_to:,}" if band.up_to is not None else (" above" if lower else "")
            parts.append(f"{rate}{upper}")
            lower = band.up_to or lower
        if len(parts) == 1:
            return f"{parts[0]} from the first {self.unit}"
        return ", then ".join(parts[:2]) + "".join(f", {p}" for p in parts[2:])


@dataclass(frozen=True)
class Figure:
    """One price or limit with its unit, source, date read and status."""

    key: str
    label: str
    value: float
    unit: str
    source: str
    read: str
    status: str
    note: str = ""


@dataclass(frozen=True)
class LambdaCost:
    """What a month of Lambda invocations costs: per request, per GB-second, and in total."""

    requests: float
    compute: float
    gb_seconds: float

    @property
    def total(self) -> float:
        """``requests + compute``, in USD."""
        return self.requests + self.compute


def _bands(raw: list[dict[str, Any]], where: str) -> tuple[Band, ...]:
    if not raw:
        raise ConfigurationError(f"{where} has no price bands.")
    bands = tuple(Band(b["up_to"], float(b["price"])) for b in raw)
    limits = [b.up_to for b in bands]
    if any(x is None for x in limits[:-1]) or limits[:-1] != sorted(limits[:-1]):
        raise ConfigurationError(f"{where}: bands must rise, and only the last may be open.")
    return bands


class PriceBook:
    """The prices of ``data/pricing.json``: per-MAU plans, request prices and other figures."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.raw = data
        self.plans: dict[str, Plan] = {}
        for key, p in data.get("mau_plans", {}).items():
            self.plans[key] = Plan(
                key=key,
                label=p["label"],
                unit=p["unit"],
                bands=_bands(p["bands"], f"plan {key!r}"),
                source=p["source"],
                read=p["read"],
                status=p["status"],
                note=p.get("note", ""),
            )
        self.requests: dict[str, dict[str, Any]] = dict(data.get("request_prices", {}))
        self.figures: dict[str, Figure] = {
            key: Figure(
                key=key,
                label=f["label"],
                value=f["value"],
                unit=f["unit"],
                source=f["source"],
                read=f["read"],
                status=f["status"],
                note=f.get("note", ""),
            )
            for key, f in data.get("figures", {}).items()
        }
        self.mau_definition: dict[str, Any] = dict(data.get("mau_definition", {}))
        """What makes a user count as a monthly active user: ``counts`` (the operations),
        with ``source``, ``read``, ``status`` and ``note``."""
        entries = [*self.requests.items(), *data.get("mau_plans", {}).items()]
        if self.mau_definition:
            entries.append(("mau_definition", self.mau_definition))
        for what, entry in entries:
            for field in ("source", "read", "status"):
                if not entry.get(field):
                    raise ConfigurationError(f"{what!r} in pricing.json lacks its {field}.")

    # ------------------------------------------------------------------ per MAU
    def plan(self, key: str) -> Plan:
        """The plan named ``key`` (e.g. ``"cognito-essentials"``)."""
        try:
            return self.plans[key]
        except KeyError:
            raise ConfigurationError(
                f"No price plan {key!r}.", hint=f"Known plans: {', '.join(sorted(self.plans))}."
            ) from None

    def mau_cost(self, key: str, maus: float) -> float:
        """The monthly cost of ``maus`` monthly active users on plan ``key``, in USD."""
        return self.plan(key).cost(maus)

    def figure(self, key: str) -> Figure:
        """A single figure (a limit or an older free tier) with its source."""
        try:
            return self.figures[key]
        except KeyError:
            raise ConfigurationError(
                f"No figure {key!r}.", hint=f"Known figures: {', '.join(sorted(self.figures))}."
            ) from None

    # ------------------------------------------------------------------ per request
    def _request(self, key: str) -> dict[str, Any]:
        if key not in self.requests:
            raise ConfigurationError(f"pricing.json has no request prices for {key!r}.")
        return self.requests[key]

    def lambda_cost(
        self, invocations: float, memory_mb: float, duration_ms: float, *, free_tier: bool = False
    ) -> LambdaCost:
        """The cost of ``invocations`` Lambda runs of ``duration_ms`` each at ``memory_mb``.

        Duration is billed per millisecond, rounded up; GB-seconds are
        ``memory_mb / 1024 * seconds``. With ``free_tier=True`` the monthly free requests
        and GB-seconds are subtracted first (by default they are assumed used elsewhere).
        """
        if invocations < 0 or memory_mb <= 0 or duration_ms < 0:
            raise ValueError("invocations ≥ 0, memory_mb > 0 and duration_ms ≥ 0 please")
        prices = self._request("lambda")
        gb_seconds = invocations * (memory_mb / 1024) * (math.ceil(duration_ms) / 1000)
        billable_requests = invocations
        if free_tier:
            billable_requests = max(0.0, invocations - prices["free_requests_per_month"])
            gb_seconds_billed = max(0.0, gb_seconds - prices["free_gb_seconds_per_month"])
        else:
            gb_seconds_billed = gb_seconds
        return LambdaCost(
            requests=billable_requests / 1e6 * prices["request_price_per_million"],
            compute=gb_seconds_billed * prices["gb_second_price"],
            gb_seconds=gb_seconds,
        )

    def http_api_cost(self, requests: float, *, free_tier: bool = False) -> float:
        """What API Gateway (HTTP API) charges for ``requests`` billed in a month, in USD.

        Pass the requests the gateway bills: the course counts those its authorizer lets
        through (AWS staff answers on re:Post say refused ones are not billed; notebook 09).
        ``free_tier=True`` subtracts the 12-month allowance, which only AWS accounts created
        before 15 July 2025 have.
        """
        prices = self._request("http-api")
        billable = max(0.0, requests - prices["free_requests_per_month"]) if free_tier else requests
        bands = _bands(prices["bands_per_million"], "http-api")
        per_request = tuple(Band(b.up_to, b.price / 1e6) for b in bands)
        return graduated_cost(per_request, billable)

    def saved_by_gateway(self, rejected: float, memory_mb: float, duration_ms: float) -> float:
        """The Lambda cost avoided when ``rejected`` requests are refused before the function runs.

        Only the Lambda request charge and the compute are counted here; whether the gateway
        bills a refused request is a separate line (notebook 09: the course counts it as not
        billed, per AWS staff answers).
        """
        return self.lambda_cost(rejected, memory_mb, duration_ms).total

    # ------------------------------------------------------------------ provenance
    def sources(self) -> list[dict[str, str]]:
        """One row per priced item: what it is, its source, the date read and its status."""
        rows = [
            {"item": p.label, "source": p.source, "read": p.read, "status": p.status}
            for p in self.plans.values()
        ]
        rows += [
            {"item": r["label"], "source": r["source"], "read": r["read"], "status": r["status"]}
            for r in self.requests.values()
        ]
        rows += [
            {"item": f.label, "source": f.source, "read": f.read, "status": f.status}
            for f in self.figures.values()
        ]
        if self.mau_definition:
            d = self.mau_definition
            rows.append(
                {
                    "item": d["label"],
                    "source": d["source"],
                    "read": d["read"],
                    "status": d["status"],
                }
            )
        return rows

    @property
    def mau_counts(self) -> tuple[str, ...]:
        """The identity operations that make a user a monthly active user (the pricing page's
        list, administrative ones included)."""
        return tuple(self.mau_definition.get("counts", ()))

    def cite(self, key: str) -> str:
        """One line naming where the plan, request price or figure ``key`` comes from, and when."""
        if key in self.plans:
            item: Any = self.plans[key]
            label, source, read, status = item.label, item.source, item.read, item.status
        elif key in self.requests:
            item = self.requests[key]
            label, source, read, status = (
                item["label"],
                item["source"],
                item["read"],
                item["status"],
            )
        else:
            item = self.figure(key)
            label, source, read, status = item.label, item.source, item.read, item.status
        flag = "" if status == "checked" else " [example: check before use]"
        return f"{label}: {source}, read {read}{flag}"

    def footnote(self, *keys: str) -> str:
        """A short "Sources: ..." line for a plot: each distinct page with its read date."""
        seen: dict[str, str] = {}
        for key in keys:
            if key in self.plans:
                source, read, status = (
                    self.plans[key].source,
                    self.plans[key].read,
                    self.plans[key].status,
                )
            elif key in self.requests:
                entry = self.requests[key]
                source, read, status = entry["source"], entry["read"], entry["status"]
            else:
                fig = self.figure(key)
                source, read, status = fig.source, fig.read, fig.status
            url = source.split(" ; ")[0]
            page = url.split("://", 1)[-1].rstrip("/")
            note = f"{page} (read {read}{', example: check' if status != 'checked' else ''})"
            seen.setdefault(page, note)
        return "Sources: " + "; ".join(seen.values())

    def needs_checking(self) -> list[str]:
        """Labels of every item whose status is ``example``: check them before teaching."""
        return [row["item"] for row in self.sources() if row["status"] != "checked"]

    def __repr__(self) -> str:
        return f"PriceBook({len(self.plans)} plans, {len(self.requests)} request prices)"


def load_prices(path: str | Path | None = None) -> PriceBook:
    """The course's price book, from ``data/pricing.json`` (or ``path``)."""
    file = Path(path) if path is not None else data_path("pricing.json")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"Cannot read the price file {file.name}: {exc}.") from exc
    return PriceBook(data)
