"""Every Prometheus metric of execx, in one place, namespace ``om`` (seed 000: "The metrics use the
namespace om"). Labels are bounded: exchange, order type, transaction type, status, reason code,
endpoint, outcome — never session or order ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from . import tracing

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.orders_sent = Counter(
            "orders_sent",
            "Order transactions sent to a venue",
            ["exchange", "order_type", "transaction_type"],
            namespace="om",
            registry=r,
        )
        self.updates = Counter(
            "order_updates", "Order updates published, by status", ["exchange", "status"], namespace="om", registry=r
        )
        self.rejects = Counter(
            "order_rejects",
            "Orders and requests refused, by reason",
            ["exchange", "reason"],
            namespace="om",
            registry=r,
        )
        self.invalid_transitions = Counter(
            "invalid_transitions",
            "Venue reports refused by the order state machine",
            ["exchange"],
            namespace="om",
            registry=r,
        )
        self.ack_latency = Histogram(
            "order_ack_latency_seconds",
            "From sending an order transaction to the venue's acknowledgement",
            ["exchange", "transaction_type"],
            namespace="om",
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.venue_latency = Histogram(
            "venue_request_latency_seconds",
            "Venue request latency by endpoint and outcome",
            ["exchange", "endpoint", "outcome"],
            namespace="om",
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.sessions = Gauge("active_sessions", "Live order sessions", ["exchange"], namespace="om", registry=r)
        self.subscribers = Gauge(
            "stream_subscribers", "Open update/position stream subscribers", ["stream"], namespace="om", registry=r
        )
        self.reconnects = Counter(
            "websocket_reconnects", "Venue websocket reconnects", ["exchange", "stream"], namespace="om", registry=r
        )
        self.rate_limit_headroom = Gauge(
            "rate_limit_headroom_ratio",
            "Fraction of the venue's request-weight budget still available",
            ["exchange"],
            namespace="om",
            registry=r,
        )

        # position managers (seed 000: "information from the position manager such as target position and
        # current position"); one series per running manager's exchange and symbol
        self.pm_target = Gauge(
            "position_manager_target_position",
            "Target position of the position manager",
            ["exchange", "symbol"],
            namespace="om",
            registry=r,
        )
        self.pm_current = Gauge(
            "position_manager_current_position",
            "Current position of the position manager's session on its symbol",
            ["exchange", "symbol"],
            namespace="om",
            registry=r,
        )
        self.pm_orders = Counter(
            "position_manager_orders",
            "Order transactions sent by position managers (place, amend, cancel)",
            ["exchange", "action"],
            namespace="om",
            registry=r,
        )
        self.pm_requotes = Counter(
            "position_manager_requotes",
            "Post-only orders refused or cancelled because the price moved, quoted again",
            ["exchange"],
            namespace="om",
            registry=r,
        )
        self.pm_paused = Counter(
            "position_manager_paused_seconds",
            "Time position managers spent paused, by reason (stale, disconnected, backoff)",
            ["exchange", "reason"],
            namespace="om",
            registry=r,
        )

        # algorithms (managers/runtime.py): trigger manager, dip buyer
        self.algo_errors = Counter(
            "algorithm_errors",
            "Errors of trading algorithms, by algorithm and kind (send, failed, restore)",
            ["algorithm", "kind"],
            namespace="om",
            registry=r,
        )
        self.triggers_armed = Gauge(
            "triggers_armed", "Triggers armed (set and not yet fired)", ["exchange"], namespace="om", registry=r
        )
        self.triggers_fired = Counter(
            "triggers_fired", "Triggers that fired and sent their orders", ["exchange"], namespace="om", registry=r
        )
        self.trigger_stale_skips = Counter(
            "trigger_stale_skips",
            "Trades that would have fired a trigger but arrived while the feed was stale (not acted on)",
            ["exchange"],
            namespace="om",
            registry=r,
        )
        self.trigger_reaction = Histogram(
            "trigger_reaction_seconds",
            "From the trade print's arrival in execx to the trigger's orders being handed to the order path",
            ["exchange"],
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
            namespace="om",
            registry=r,
        )
        self.dip_buys = Counter("dip_buys", "Orders sent by dip buyers", ["exchange"], namespace="om", registry=r)
        self.dip_bought = Counter(
            "dip_bought_quantity", "Quantity dip buyers bought (filled)", ["exchange"], namespace="om", registry=r
        )

        # grid traders (managers/grid.py); their errors are om_algorithm_errors_total{algorithm="grid_trader"}
        self.grid_fills = Counter("grid_fills", "Grid trader orders filled", ["exchange"], namespace="om", registry=r)
        self.grid_round_trips = Counter(
            "grid_round_trips",
            "Grid trader round trips completed (a buy and the sell one level above, or the reverse)",
            ["exchange"],
            namespace="om",
            registry=r,
        )
        self.grid_recenters = Counter(
            "grid_recenters", "Dynamic grids rebuilt around the market", ["exchange"], namespace="om", registry=r
        )

        # smart orders (managers/smart.py, TWAP/VWAP); errors: om_algorithm_errors_total{algorithm="smart_order"}
        self.smart_active = Gauge(
            "smart_orders_running", "Smart orders running", ["algorithm"], namespace="om", registry=r
        )
        self.smart_children = Counter(
            "smart_order_children",
            "Child orders sent by smart orders; kind postonly (resting at the touch) or ioc (crossing)",
            ["exchange", "algorithm", "kind"],
            namespace="om",
            registry=r,
        )
        self.smart_filled = Counter(
            "smart_order_filled_quantity",
            "Quantity smart orders filled; liquidity maker or taker",
            ["exchange", "algorithm", "liquidity"],
            namespace="om",
            registry=r,
        )
        self.smart_finished = Counter(
            "smart_orders_finished",
            "Smart orders finished, by final status",
            ["algorithm", "status"],
            namespace="om",
            registry=r,
        )

        # pre-trade risk limits and the kill switch (engine/risk.py); limit: one of risk.LIMIT_NAMES
        self.risk_refusals = Counter(
            "risk_refusals",
            "Orders and amends refused before sending by a risk limit or the kill switch",
            ["exchange", "limit"],
            namespace="om",
            registry=r,
        )
        self.kill_switch_engaged = Gauge(
            "kill_switch_engaged",
            "Kill switches engaged: scope global (0 or 1), scope session (sessions engaged one by one), scope account",
            ["scope"],
            namespace="om",
            registry=r,
        )
        self.kill_switch_activations = Counter(
            "kill_switch_activations", "Kill switch engagements", ["scope"], namespace="om", registry=r
        )
        self.kill_switch_cancels = Counter(
            "kill_switch_cancels", "Cancels sent by the kill switch", ["exchange"], namespace="om", registry=r
        )
        # cancel-on-disconnect of the client's streams (engine/disconnect.py, docs/safety.md)
        self.cancel_on_disconnect_fired = Counter(
            "cancel_on_disconnect_fired",
            "Sessions whose client streams stayed gone past the grace period: their open orders pulled",
            ["exchange"],
            namespace="om",
            registry=r,
        )
        self.cancel_on_disconnect_cancels = Counter(
            "cancel_on_disconnect_cancels",
            "Open orders cancel-on-disconnect sent a cancel for",
            ["exchange"],
            namespace="om",
            registry=r,
        )
        # fleet mode (fleet/, docs/fleet.md): the shared rate budget on Redis and the fleet kill switch
        self.fleet_shared = Gauge(
            "fleet_rate_budget_shared",
            "1: venue requests drawn from the fleet's shared budget on Redis; 0: Redis unreachable, local share",
            namespace="om",
            registry=r,
        )
        self.fleet_budget_waits = Counter(
            "fleet_rate_budget_refusals",
            "Venue requests the rate budget held back (not sent), by kind (order, query) and mode (shared, local)",
            ["exchange", "kind", "mode"],
            namespace="om",
            registry=r,
        )
        self.fleet_venue_blocks = Counter(
            "fleet_venue_blocks",
            "Venue 429/418 answers shared with the fleet (every sidecar on the account backs off)",
            ["exchange"],
            namespace="om",
            registry=r,
        )
        self.fleet_kills_received = Counter(
            "fleet_kills_received",
            "Global kill switch changes received from another execx",
            ["op"],
            namespace="om",
            registry=r,
        )
        self.fleet_nodes = Gauge(
            "fleet_nodes", "Live execx sidecars registered in the fleet", namespace="om", registry=r
        )
        self.dropcopy_lag_records = Gauge(
            "dropcopy_lag_records",
            "Drop copy: journaled records JetStream has not acknowledged yet (journal seq minus last acked, summed "
            "over the sessions)",
            ["stream"],
            namespace="om",
            registry=r,
        )
        self.dropcopy_lag_seconds = Gauge(
            "dropcopy_lag_seconds",
            "Drop copy: how long it has been behind the journal (0 when caught up)",
            ["stream"],
            namespace="om",
            registry=r,
        )


M = TypeVar("M", Counter, Gauge, Histogram)


class Children(Generic[M]):
    """A metric's labelled children, each looked up once: ``labels()`` costs a few µs a call (it checks
    and joins its arguments under a lock) and the order path takes several per order. Only for metrics
    whose children are never removed (a removed child would stay cached here, no longer exported)."""

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        try:
            return self._children[values]
        except KeyError:
            child: M = self._metric.labels(*values)
            self._children[values] = child
            return child


class VenueTelemetry:
    """The connectors' telemetry hook (``connectors.transport.telemetry.Telemetry``) over these metrics."""

    def __init__(self, metrics: Metrics, exchange: str) -> None:
        self._latency = Children(metrics.venue_latency)
        self._reconnects = metrics.reconnects
        self._headroom = metrics.rate_limit_headroom.labels(exchange)
        self._exchange = exchange
        self._reconnect_listeners: list[Callable[[str], None]] = []

    def add_reconnect_listener(self, listener: Callable[[str], None]) -> None:
        """Also tell ``listener(stream)`` about every websocket reconnect of this connector (the market-data
        hub marks the connector's feeds stale until fresh data arrives on the new connection)."""
        self._reconnect_listeners.append(listener)

    def request(self, endpoint: str, outcome: str, seconds: float) -> None:
        self._latency(self._exchange, endpoint, outcome).observe(seconds)
        tracing.venue_request(self._exchange, endpoint, outcome, seconds)

    def reconnect(self, stream: str) -> None:
        self._reconnects.labels(self._exchange, stream).inc()
        for listener in self._reconnect_listeners:
            listener(stream)

    def headroom(self, ratio: float) -> None:
        self._headroom.set(ratio)
