"""The OKX connector (v5, spot, linear and inverse swaps, exchange ``okx``): the ``Connector`` contract of
``connectors.base`` over OKX's REST API and private / public websockets.

Mechanisms (``../shared/venues/okx.md``):

- Orders over REST, or (``order_entry="ws"``, execx's default ``--orderEntry websocket``) as the
  private websocket's order operations ``order`` / ``batch-orders`` / ``cancel-order`` /
  ``amend-order`` addressed by ``instIdCode`` — REST while that socket is down; every order is named
  by its ``clOrdId`` (execx's clOrderId; OKX rule: 1-32 letters and digits).
  ``ordType`` carries the time in force: ``limit`` (gtc), ``ioc``, ``fok``,
  ``post_only``, ``market``; OKX has no DAY orders. Spot uses ``tdMode=cash`` and market orders are
  sized in the base currency (``tgtCcy=base_ccy``); swaps use ``tdMode=cross`` and sizes in contracts.
  An accepted order (``sCode 0``) is acknowledged ``new`` — or with the state the private stream
  already reported, so an acknowledgement never moves an order backwards.
- Post-only: OKX accepts a crossing ``post_only`` order and then cancels it (``cancelSource 31``);
  the order ends ``cancelled`` with that reason in its message (it is never reported rejected: it
  reached the venue).
- Amend: ``amend-order`` (``newSz`` = new total size, ``newPx``); queue priority follows the venue.
- Cancel: ``cancel-order``. The answer only says the cancel was accepted; the connector returns the
  final state the ``orders`` channel reports for the order (so every fill before the cancel is
  reported first), or asks REST when the channel is silent.
- Batches: inserts and cancels the engine issues together (a ``pull``, a ``BatchSendOrders``) are
  coalesced (``transport.coalesce.Coalescer``, as Bybit) — everything requested in the same
  event-loop turn — into ``batch-orders`` / ``cancel-batch-orders`` requests of at most 20 items.
- **Pull** (``cancel_all`` and a pull through the engine): OKX cannot cancel by instrument, so the
  connector keeps ready-made ``cancel-batch-orders`` bodies of every working order per instrument
  (``pull.py``) and sends them as they are: one round trip per 20 orders, no look-up.
- Private stream and gap recovery: ``stream.py``; after a reconnect the connector reads
  ``orders-pending`` and the fills since the last one it saw, and the state of every order it
  believed live, and reports what it missed (the engine drops duplicates by trade id and status).
- Native contingent orders are algo orders (``order-algo``, ``cancel-algos``); their own states come on the
  business websocket's ``orders-algo`` channel (``stream.BusinessStream``): one cancelled or failed at the
  venue before it fires is reported at once.
- Market data: ``bbo-tbt`` and ``trades`` on ``/ws/v5/public``.
- Hosts (production, AWS, demo with ``--testnet``) and the ``rest_url`` / ``ws_url`` overrides: ``urls.py``.

Lifecycle, tracking, recovery, the stall watch, the dead-man switch and market-data watching are
``connectors.venue.VenueConnector``'s; this module supplies OKX's hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, cast

import aiohttp

from ...domain.enums import Exchange, OrderStatus, Side, TimeInForce
from ...domain.errors import ValidationError
from ...domain.instruments import InstrumentRules
from ...domain.venue import (
    ExecutionReport,
    GroupRequest,
    OrderRequest,
    OutcomeUnknown,
    Rejected,
    Retryable,
    Trade,
    TradeWindow,
    VenueError,
    VenuePosition,
)
from ..base import Capabilities, ConnectorConfig, PostOnlyCross
from ..deadman import DeadManSwitch
from ..tracking import PARSE_ERRORS, Known, refused_as_duplicate
from ..transport.coalesce import Coalescer
from ..transport.supervisor import Run
from ..transport.websocket import DEFAULT_BACKOFF, Backoff, NoAnswer, NotSent
from ..venue import START_TIMEOUT_S, VenueConnector
from . import parse
from .errors import CANCEL_FAILED, DUPLICATE_CODES, NOT_FOUND, classify
from .pull import BATCH_LIMIT, PullBook
from .rest import OkxRest
from .schemas import BboItem, FillRow, ItemResult, OrderRow, TradeItem
from .signing import Signer
from .stream import BusinessStream, PrivateStream, PublicStream
from .urls import Hosts, resolve_hosts

log = logging.getLogger("execx.connectors.okx")
HISTORY_REQUESTS = 10  # trades_between: history-trades pages at most (1000 trades)

CONFIRM_TIMEOUT_S = 3.0  # wait for the orders channel to confirm a cancel before asking REST
RECOVERY_WINDOW_MS = 3 * 24 * 3600 * 1000 - 60_000  # GET /trade/fills covers three days

_RANK = {
    OrderStatus.PENDINGNEW: 0,
    OrderStatus.NEW: 1,
    OrderStatus.PARTIALLYFILLED: 2,
}


_MISSING = "OKX answered the batch without this order"


@dataclass(eq=False)
class _Oco:
    """An execx OCO held by OKX as one ``oco`` algo order (``algo_cl`` its algoClOrdId, and the clOrdId of the order
    it places): ``stop`` and ``take`` are the legs' clOrderIds. ``fired``: the leg whose level OKX reached (its
    order's reports go out under that leg's clOrderId); ``ended``: fired, cancelled or failed. Orders-channel reports
    of its order that come before the connector knows which leg fired wait in ``waiting``."""

    algo_cl: str
    symbol: str
    stop: str
    take: str
    algo_id: str = ""
    fired: str = ""
    ended: bool = False
    waiting: list[ExecutionReport] = field(default_factory=list)
    resolving: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def other(self, cl: str) -> str:
        return self.take if cl == self.stop else self.stop


class OkxConnector(VenueConnector):
    capabilities = Capabilities(
        supported_tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),  # OKX has no DAY orders
        supports_reduce_only=True,  # on swaps (checked per order)
        max_batch_place=BATCH_LIMIT,
        max_batch_cancel=BATCH_LIMIT,
        post_only_cross=PostOnlyCross.CANCELLED,  # cancelSource 31
        # algo orders (order-algo): conditional stop-loss / take-profit, move_order_stop (parse.algo_item)
        native_triggers=frozenset({"stop", "takeprofit", "trailingstop"}),
        native_references=frozenset(parse.PX_TYPE),
        native_trailing=frozenset({"amount", "percent"}),
        native_groups=frozenset({"oco"}),  # a stop + a take-profit as one ``oco`` algo order (parse.oco_refusal)
    )

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        hosts: str | None = None,
        clock_ms: Callable[[], int] | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        probe_every_s: float = 20.0,
        order_entry: Literal["rest", "ws"] = "rest",
    ) -> None:
        if config.exchange is not Exchange.OKX:
            raise ValueError(f"not an OKX market: {config.exchange}")
        super().__init__(config, clock_ms=clock_ms, backoff=backoff)
        self.hosts: Hosts = resolve_hosts(config.testnet, config.rest_url, config.ws_url, hosts)
        self._probe_every_s = probe_every_s
        self._signer = Signer(config.api_key, config.secret_key, config.passphrase, self.hosts.demo, self._clock_ms)
        self._rest: OkxRest | None = None
        self._swap: set[str] = set()
        self._algo_ids: dict[str, str] = {}  # clOrderId -> algoId of a native contingent order (cancel-algos)
        self._ocos: dict[str, _Oco] = {}  # algoClOrdId -> a native OCO group's oco algo order
        self._oco_legs: dict[str, _Oco] = {}  # a leg's clOrderId -> its oco
        self._resolving: set[asyncio.Task[None]] = set()
        self._codes: dict[str, int] = {}  # instId -> instIdCode (WebSocket order operations)
        self.order_entry = order_entry
        self._pulls: dict[str, PullBook] = {}
        # Places and cancels started in one loop turn go out together (a BatchSendOrders, a pull).
        self._batches: Coalescer[tuple[str, str], dict[str, str], ItemResult] = Coalescer(
            self._send, BATCH_LIMIT, "okx", split=self._split
        )
        self._private: PrivateStream | None = None
        self._business: BusinessStream | None = None  # orders-algo: the native contingent orders' own states
        self._public: PublicStream | None = None
        if config.dead_man_s:  # cancel-all-after, account-wide (docs/safety.md)
            self.capabilities = replace(OkxConnector.capabilities, cancel_on_disconnect=True)
            self._dead_man = DeadManSwitch(
                self.name, config.dead_man_s, lambda ms: self.rest.cancel_all_after(ms // 1000), max_s=120
            )

    # ------------------------------------------------------------------ lifecycle

    @property
    def rest(self) -> OkxRest:
        if self._rest is None:
            raise RuntimeError("connector not started")
        return self._rest

    def _open_transport(self, session: aiohttp.ClientSession, *, keyless: bool) -> None:
        if self._config.use_margin and not keyless:
            raise ValidationError("useMargin", "spot margin is not implemented for okx (spot orders use tdMode cash)")
        self._rest = OkxRest(session, self.hosts.rest, self._signer)
        self._rest.telemetry = self.telemetry
        self._rest.gate = None if keyless else self.rate_gate  # fleet mode: the account's shared budget

    async def _load_rules(self, *, keyless: bool) -> dict[str, InstrumentRules]:
        """Spot and swap instruments (public): rules, instIdCode (websocket order entry), which are swaps."""
        rules: dict[str, InstrumentRules] = {}
        for inst_type in ("SPOT", "SWAP"):
            for row in await self.rest.instruments(inst_type):
                instrument = parse.parse_instrument(row)
                rules[instrument.symbol] = instrument
                if isinstance(row.get("instIdCode"), int):
                    self._codes[instrument.symbol] = row["instIdCode"]
                if inst_type == "SWAP":
                    self._swap.add(instrument.symbol)
        return rules

    async def _private_runs(self, session: aiohttp.ClientSession) -> list[Run]:
        await self.rest.account_config()  # wrong key / secret / passphrase: refused here, in OKX's words
        private = self._private = PrivateStream(
            session,
            self.hosts.private,
            self._signer,
            self._on_orders,
            self._stream_state,
            self._recovery.run,
            self._backoff,
            self._probe_every_s,
        )
        private.ws.telemetry = self.telemetry
        business = self._business = BusinessStream(
            session,
            self.hosts.business,
            self._signer,
            self._on_algo_orders,
            self._recover_algos,
            self._backoff,
            self._probe_every_s,
        )
        business.ws.telemetry = self.telemetry
        return [("okx.private", private.run), ("okx.business", business.run)]

    async def _wait_private(self) -> None:
        """The private stream (required), then the business one's ``orders-algo`` subscription: not required (a
        native contingent order's end is then seen by the reconciliation instead), so its absence is a warning."""
        await super()._wait_private()
        if self._business is not None:
            await self._supervisor.wait_live(self._business.ws, self._business.refused, START_TIMEOUT_S)
            if not self._business.ws.live:
                log.warning(
                    "okx.business.not_up",
                    extra={"refusal": str(self._business.refusal or ""), "timeout_s": START_TIMEOUT_S},
                )

    def _private_stream(self) -> PrivateStream | None:
        return self._private

    async def _close_transport(self) -> None:
        for task in list(self._resolving):  # an oco's fired leg still being asked for: no longer
            task.cancel()
        await asyncio.gather(*self._resolving, return_exceptions=True)
        await self._batches.close()

    @property
    def _rules_venue(self) -> str:
        return "okx (instruments are SPOT and SWAP instIds)"

    def _pull(self, symbol: str) -> PullBook:
        book = self._pulls.get(symbol)
        if book is None:
            book = self._pulls[symbol] = PullBook(symbol)
        return book

    # ------------------------------------------------------------------ coalescing (batches)

    def _split(self, key: tuple[str, str], items: list[dict[str, str]]) -> list[list[int]] | None:
        """A pull (cancels of every order in the instrument's pull book) goes out as the book's ready-made
        bodies; anything else in chunks of ``BATCH_LIMIT``."""
        kind, symbol = key
        book = self._pulls.get(symbol)
        if kind != "cancel" or book is None or not len(book) or {i["clOrdId"] for i in items} != book.ids:
            return None
        where = {item["clOrdId"]: index for index, item in enumerate(items)}
        return [[where[cl] for cl in ids] for ids in book.chunks()]

    async def _send(self, key: tuple[str, str], items: list[dict[str, str]]) -> list[ItemResult | VenueError]:
        """One request for the items queued together: place -> ``order`` / ``batch-orders``; cancel ->
        ``cancel-order`` for one, ``cancel-batch-orders`` (the pull book's body when it is one) for more."""
        kind, symbol = key
        if kind == "place":
            ws = await self._ws_op("order" if len(items) == 1 else "batch-orders", items)
            if ws is not None:
                results = ws
            elif len(items) == 1:
                results = [await self.rest.order(items[0])]
            else:
                results = await self.rest.batch_orders(items)
        elif len(items) == 1:
            ws = await self._ws_op("cancel-order", items)
            results = [ws[0] if ws else await self.rest.cancel_order(items[0])]
        else:
            ids = [item["clOrdId"] for item in items]
            book = self._pulls.get(symbol)
            body = (book.body_of(ids) if book is not None else None) or _json_array(items)
            results = await self.rest.cancel_batch_orders(body)
        by_cl = {str(r.get("clOrdId", "")): r for r in results}
        outcomes: list[ItemResult | VenueError] = []
        for index, item in enumerate(items):
            result = by_cl.get(item["clOrdId"]) or (
                results[index] if kind == "place" and index < len(results) else None
            )
            outcomes.append(result if result is not None else OutcomeUnknown(_MISSING, "batch"))
        return outcomes

    async def _ws_op(self, op: str, items: list[dict[str, str]]) -> list[ItemResult] | None:
        """``op`` over the private WebSocket (``order_entry="ws"``), instruments addressed by
        ``instIdCode``; None when the connection is down (nothing was sent: use REST)."""
        if self.order_entry != "ws" or self._private is None or not self._private.ws.live:
            return None
        self.rest.limiter.check()  # inside OKX's rate-limit window after a 50011: refuse locally
        await self.rest.draw("WS", op, items)
        args: list[dict[str, Any]] = []
        for item in items:
            inst_code = self._codes.get(item["instId"])
            if inst_code is None:
                return None  # an instrument without a code: REST takes instId
            args.append({"instIdCode": inst_code, **{k: v for k, v in item.items() if k != "instId"}})
        started = time.perf_counter()
        outcome = "ok"
        try:
            answer = await self._private.order_op(op, args)
        except NotSent:
            outcome = "retryable"
            return None
        except NoAnswer as exc:
            outcome = "unknown"
            raise OutcomeUnknown(str(exc), "ws-no-answer") from None
        finally:
            self.telemetry.request(f"WS {op}", outcome, time.perf_counter() - started)
        code, data = str(answer.get("code", "")), answer.get("data")
        if code in ("0", "1", "2") and isinstance(data, list) and data:
            return [cast(ItemResult, {**row, "instId": items[0]["instId"]}) for row in data]
        error = classify(200, code, str(answer.get("msg", "")))
        if code == "50011":  # the rate limit: shared with the fleet
            self.rest.block(f"OKX rate limit: {error.message}")
        elif isinstance(error, Retryable) and error.retry_after_s:
            self.rest.limiter.block(error.retry_after_s, f"OKX rate limit: {error.message}")
        raise error

    # ------------------------------------------------------------------ orders

    async def _submit_algo(self, order: OrderRequest) -> ExecutionReport:
        """A native contingent order: an algo order held as ``pendingtrigger``; the order it places when it
        fires reports itself (orders channel) under the same client id. Its algoId is kept for the cancel."""
        self.rules(order.symbol)
        result = await self._place_algo(parse.algo_item(order, order.symbol in self._swap), (order,))
        self._algo_ids[order.cl_order_id] = str(result.get("algoId", ""))
        ack = ExecutionReport(
            order.cl_order_id,
            order.symbol,
            "",
            OrderStatus.PENDINGTRIGGER,
            order.side,
            order.price,
            order.qty,
            Decimal(0),
            time.time_ns(),
        )
        self.tracker.note(ack)
        return ack

    async def _place_algo(self, item: dict[str, str], orders: Sequence[OrderRequest]) -> ItemResult:
        """``POST order-algo`` of ``item``, which holds ``orders`` (tracked from now; refused: not live)."""
        for order in orders:
            self.tracker.track(
                order.cl_order_id, Known(order.symbol, order.side, order.order_type, order.tif, order.qty, order.price)
            )
        try:
            result = await self.rest.order_algo(item)
            _check_item(result)
        except (Retryable, Rejected):
            for order in orders:
                self.tracker.refused(order.cl_order_id)
            raise
        return result

    async def _algo(self, symbol: str, cl_order_id: str) -> dict[str, Any] | None:
        """The algo order ``cl_order_id`` as OKX has it, None if there is none."""
        try:
            row = await self.rest.get_algo_order(cl_order_id)
        except Rejected as exc:
            if exc.code == NOT_FOUND:
                return None
            raise
        self._algo_ids[cl_order_id] = str(row.get("algoId", ""))
        return row

    # ------------------------------------------------------------------ native OCO groups (oco algo orders)

    def holds_group(self, group: GroupRequest) -> str:
        return parse.oco_refusal(group)

    async def submit_group(self, group: GroupRequest) -> list[ExecutionReport]:
        """One ``oco`` algo order for the group's stop and take-profit (``parse.oco_item``); both legs held as
        ``pendingtrigger``. The order OKX places when a leg fires carries the algo order's ``algoClOrdId``; the
        ``orders-algo`` row's ``actualSide`` says which leg it is (``_on_oco_row``)."""
        self.rules(group.symbol)
        algo_cl = parse.oco_algo_cl(group)
        item = parse.oco_item(group, group.symbol in self._swap, algo_cl)
        oco = self._register_oco(group)
        try:
            result = await self._place_algo(item, group.legs)
        except (Retryable, Rejected):
            for leg in group.legs:
                self._oco_legs.pop(leg.cl_order_id, None)
            self._ocos.pop(algo_cl, None)
            raise
        oco.algo_id = oco.algo_id or str(result.get("algoId", ""))
        reports = []
        for leg in group.legs:  # never behind what the channel already said of a leg
            known = self.tracker.get(leg.cl_order_id)
            status = known.status if known is not None and known.status.is_final else OrderStatus.PENDINGTRIGGER
            reports.append(self._held_report(leg.cl_order_id, status, ""))
            self.tracker.note(reports[-1])
        return reports

    def _register_oco(self, group: GroupRequest) -> _Oco:
        stop, take = parse.oco_legs(group)
        algo_cl = parse.oco_algo_cl(group)
        oco = self._ocos.get(algo_cl)
        if oco is None:
            oco = self._ocos[algo_cl] = _Oco(algo_cl, group.symbol, stop.cl_order_id, take.cl_order_id)
        self._oco_legs[stop.cl_order_id] = self._oco_legs[take.cl_order_id] = oco
        return oco

    async def restore_group(self, group: GroupRequest, exch_ids: Mapping[str, str]) -> None:
        """After a restart: the group's oco algo order is found again by its algoClOrdId (derived from the group);
        which leg fired, if one did, is read from it when the legs are asked for."""
        if len(group.legs) == 2 and not parse.oco_refusal(group):
            self._register_oco(group)

    async def cancel_group(self, group: GroupRequest) -> list[ExecutionReport]:
        """``cancel-algos`` of the oco while neither leg fired (both legs cancelled); once one fired, the order it
        placed is cancelled as any order (the other leg ended when it fired)."""
        oco = next((self._oco_legs[leg.cl_order_id] for leg in group.legs if leg.cl_order_id in self._oco_legs), None)
        if oco is None:
            raise Rejected(f"group {group.group_id!r} is not an OKX oco algo order this connector knows", "oco")
        return [await self._cancel_oco_leg(oco, cl) for cl in (oco.stop, oco.take)]

    async def _cancel_oco_leg(self, oco: _Oco, cl: str) -> ExecutionReport:
        """Cancel leg ``cl`` of an oco: the whole algo order while it is held (the other leg's ``cancelled`` is
        reported too), the order it placed if ``cl`` fired, else how ``cl`` ended."""
        async with oco.lock:
            if not oco.ended:
                algo_id = oco.algo_id or str((await self._oco_row(oco) or {}).get("algoId", ""))
                oco.algo_id = algo_id
                if not oco.ended and algo_id:
                    (result,) = await self.rest.cancel_algos([{"algoId": algo_id, "instId": oco.symbol}])
                    if str(result.get("sCode", "0")) == "0":
                        self._end_oco(oco, "", "cancelled at the venue (oco cancelled)")
                    else:  # it fired or ended meanwhile: the venue says which leg
                        row = await self._oco_row(oco)
                        if row is not None:
                            self._on_oco_row(oco, row)
        if oco.fired == cl:
            return await self._cancel_placed(oco.symbol, cl)
        known = self.tracker.get(cl)
        if known is not None and known.status.is_final:
            return self._held_report(cl, known.status, "")
        raise OutcomeUnknown(f"OKX did not say how the oco of {cl} ended", "oco")

    async def _oco_row(self, oco: _Oco) -> dict[str, Any] | None:
        try:
            row = await self.rest.get_algo_order(oco.algo_cl)
        except Rejected as exc:
            if exc.code == NOT_FOUND:
                return None
            raise
        oco.algo_id = oco.algo_id or str(row.get("algoId", ""))
        return row

    def _on_oco_row(self, oco: _Oco, row: dict[str, Any]) -> None:
        """An ``orders-algo`` row (or ``GET order-algo``) of an oco: a leg fired (``actualSide``: its order's reports
        go out under its clOrderId, the other leg is ``cancelled``), the oco was cancelled (both legs), or the
        order of the leg that fired was refused (``order_failed``: that leg ``rejected``)."""
        if row.get("algoId"):
            oco.algo_id = str(row["algoId"])
        state, side = str(row.get("state", "")), str(row.get("actualSide", ""))
        if state in ("live", "pause") or (oco.ended and state != "order_failed"):
            return
        if state == "canceled":
            self._end_oco(oco, "", "cancelled at the venue (orders-algo canceled)")
            return
        fail = str(row.get("failCode") or "")
        failed = "OKX could not place the order of the oco leg that fired (order_failed"
        failed += f", failCode {fail})" if fail else ")"
        fired = oco.fired or (oco.stop if side == "sl" else oco.take if side == "tp" else "")
        if not fired:  # effective without its side yet: a later row says which leg fired
            if state == "order_failed":
                oco.ended = True
                for cl in (oco.stop, oco.take):
                    self._emit_held(cl, OrderStatus.REJECTED, failed)
            return
        if not oco.ended:
            self._end_oco(oco, fired, f"oco: its other leg {fired} fired at the venue")
        if state == "order_failed":  # after its effective row: the order it placed was refused
            self._emit_held(fired, OrderStatus.REJECTED, failed)

    def _end_oco(self, oco: _Oco, fired: str, message: str) -> None:
        """The oco ended: the legs still held are ``cancelled`` (all but ``fired``); reports of the order the fired
        leg placed that waited go out under its clOrderId."""
        oco.ended, oco.fired = True, fired
        for cl in (oco.stop, oco.take):
            if cl != fired:
                self._emit_held(cl, OrderStatus.CANCELLED, message)
        waiting, oco.waiting = oco.waiting, []
        for report in waiting:
            self._emit_leg(report)

    def _emit_held(self, cl: str, status: OrderStatus, message: str) -> None:
        known = self.tracker.get(cl)
        if known is not None and known.status is OrderStatus.PENDINGTRIGGER:
            self.tracker.emit(self._held_report(cl, status, message))

    def _held_report(self, cl: str, status: OrderStatus, message: str) -> ExecutionReport:
        known = self.tracker.get(cl)
        oco = self._oco_legs.get(cl)
        return ExecutionReport(
            cl,
            known.symbol if known else oco.symbol if oco else "",
            "",
            status,
            known.side if known else Side.BUY,
            known.price if known else None,
            known.qty if known else Decimal(0),
            Decimal(0),
            time.time_ns(),
            message=message,
        )

    def _as_leg(self, report: ExecutionReport) -> ExecutionReport | None:
        """A report of an order an oco placed (``clOrdId`` = its algoClOrdId) under the clOrderId of the leg that
        fired; None while that is not known; any other report as it is."""
        oco = self._ocos.get(report.cl_order_id)
        if oco is None:
            return report
        return replace(report, cl_order_id=oco.fired) if oco.fired else None

    def _emit_leg(self, report: ExecutionReport) -> None:
        """Emit a report of an orders-channel row: an oco's order's under its leg (held back until the leg is
        known, then asked for with ``GET order-algo`` in case the channel row is late)."""
        leg = self._as_leg(report)
        if leg is not None:
            self.tracker.emit(leg)
            return
        oco = self._ocos[report.cl_order_id]
        oco.waiting.append(report)
        if not oco.resolving:
            oco.resolving = True
            task = asyncio.get_running_loop().create_task(self._resolve_oco(oco))
            self._resolving.add(task)
            task.add_done_callback(self._resolving.discard)

    async def _resolve_oco(self, oco: _Oco) -> None:
        try:
            for delay in (0.2, 1.0, 2.0, 5.0):  # the orders-algo row usually tells first; else REST
                await asyncio.sleep(delay)  # the channel's row may be on its way
                if oco.ended:
                    return
                try:
                    row = await self._oco_row(oco)
                except VenueError as exc:
                    log.warning("okx.oco.resolve_failed", extra={"algoClOrdId": oco.algo_cl, "error": str(exc)})
                    continue
                if row is not None:
                    self._on_oco_row(oco, row)
        finally:
            oco.resolving = False

    def _venue_cl(self, cl: str) -> str:
        """The venue's clOrdId of order ``cl``: an oco leg's order is placed under the oco's algoClOrdId."""
        oco = self._oco_legs.get(cl)
        return oco.algo_cl if oco is not None and oco.fired == cl else cl

    async def _query_oco_leg(self, oco: _Oco, cl: str) -> ExecutionReport | None:
        """A leg of an oco as the venue has it: held (``live``), its order once it fired, else how it ended."""
        row = await self._oco_row(oco)
        if row is None:
            return None
        self._on_oco_row(oco, row)
        if not oco.ended:
            return self._held_report(cl, OrderStatus.PENDINGTRIGGER, "")
        if oco.fired == cl and row.get("ordId"):
            report = self._as_leg(parse.parse_order(await self.rest.get_order(oco.symbol, ord_id=str(row["ordId"]))))
            if report is not None:
                self.tracker.learn(report)
                return report
        known = self.tracker.get(cl)
        if known is not None and known.status.is_final:
            return self._held_report(cl, known.status, "")
        status = (
            OrderStatus.REJECTED if row.get("state") == "order_failed" and oco.fired == cl else OrderStatus.CANCELLED
        )
        return self._held_report(cl, status, "")

    async def submit_order(self, order: OrderRequest) -> ExecutionReport:
        if order.trigger is not None:
            return await self._submit_algo(order)
        item = self._order_item(order)
        known = Known(order.symbol, order.side, order.order_type, order.tif, order.qty, order.price)
        known.final = asyncio.get_running_loop().create_future()
        previous = self.tracker.track(order.cl_order_id, known)
        book = self._pull(order.symbol)
        book.add(order.cl_order_id)
        try:
            result = await self._batches.submit(("place", order.symbol), item)
            _check_item(result)
        except Retryable:  # nothing reached the venue: not live (a retry tracks it again)
            self.tracker.refused(order.cl_order_id)
            raise
        except Rejected as exc:
            if refused_as_duplicate(exc, DUPLICATE_CODES):  # the order exists (and stays in the pull)
                why = f"okx refused {order.cl_order_id} as a duplicate ({exc.code} {exc.message})"
                return await self.tracker.existing(order.symbol, order.cl_order_id, previous, self.query_order, why)
            self.tracker.refused(order.cl_order_id)
            book.remove(order.cl_order_id)
            raise
        ord_id = str(result.get("ordId", ""))
        # Never behind what the private stream already said about this order.
        if known.state is not None:
            return known.state
        status = known.status if known.status is not OrderStatus.PENDINGNEW else OrderStatus.NEW
        ack = parse.acknowledged(order, ord_id, status, known.cum_filled, _ms_ns(result.get("ts")))
        self.tracker.note(ack)
        return ack

    def _order_item(self, order: OrderRequest) -> dict[str, str]:
        self.rules(order.symbol)
        return parse.order_item(order, order.symbol in self._swap)

    async def amend_order(
        self, symbol: str, cl_order_id: str, side: Side, qty: Decimal, price: Decimal | None
    ) -> ExecutionReport:
        known = self.tracker.get(cl_order_id)
        item = parse.amend_item(symbol, cl_order_id, qty, price)
        ws = await self._ws_op("amend-order", [item])
        result = ws[0] if ws else await self.rest.amend_order(item)
        _check_item(result)
        ord_id = str(result.get("ordId", "")) or (known.exch_order_id if known else "")
        status = known.status if known is not None and known.status in _RANK else OrderStatus.NEW
        if known is not None:
            known.qty = qty
            known.price = price if price is not None else known.price
        new_price = price if price is not None else (known.price if known else None)
        cum = known.cum_filled if known else Decimal(0)
        return parse.amended(symbol, cl_order_id, ord_id, status, side, qty, new_price, cum, _ms_ns(result.get("ts")))

    async def _cancel_algo(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        """Cancel the held algo order ``cl_order_id`` (``cancel-algos`` by its algoId); None if OKX holds none
        under that id (it fired: its order is cancelled as any order)."""
        row = await self._algo(symbol, cl_order_id) if cl_order_id not in self._algo_ids else None
        algo_id = self._algo_ids.get(cl_order_id, "")
        if not algo_id or (row is not None and row.get("state") not in ("live", "pause")):
            return None
        (result,) = await self.rest.cancel_algos([{"algoId": algo_id, "instId": symbol}])
        if str(result.get("sCode", "0")) != "0":
            return None  # fired meanwhile: the order it placed is cancelled below
        known = self.tracker.get(cl_order_id)
        report = ExecutionReport(
            cl_order_id,
            symbol,
            "",
            OrderStatus.CANCELLED,
            known.side if known else Side.BUY,
            known.price if known else None,
            known.qty if known else Decimal(0),
            Decimal(0),
            time.time_ns(),
        )
        self.tracker.note(report)
        return report

    async def cancel_order(self, symbol: str, cl_order_id: str) -> ExecutionReport:
        oco = self._oco_legs.get(cl_order_id)
        if oco is not None:  # a leg of a native OCO group: the oco algo order, or the order it placed
            return await self._cancel_oco_leg(oco, cl_order_id)
        known = self.tracker.get(cl_order_id)
        if known is None or known.status is OrderStatus.PENDINGTRIGGER:  # held as an algo order (or unknown here)
            algo = await self._cancel_algo(symbol, cl_order_id)
            if algo is not None:
                return algo
        return await self._cancel_placed(symbol, cl_order_id)

    async def _cancel_placed(self, symbol: str, cl_order_id: str) -> ExecutionReport:
        """``cancel-order`` of an order on the book (an oco leg's under the oco's algoClOrdId) and how it ended."""
        known = self.tracker.get(cl_order_id)
        was_live = known is not None and not known.status.is_final
        item = parse.cancel_item(symbol, self._venue_cl(cl_order_id))
        result = await self._batches.submit(("cancel", symbol), item)
        try:
            _check_item(result)
        except Rejected as exc:
            # 51400 for an order that was live when the cancel left: it ended meanwhile (a fill raced the
            # cancel). Report how it ended rather than a refused cancel of a live order.
            if exc.code != CANCEL_FAILED or not was_live:
                raise
            ended = await self._final_state(symbol, cl_order_id, known)
            if ended is None:
                raise
            return ended
        ended = await self._final_state(symbol, cl_order_id, known)
        if ended is None:
            raise OutcomeUnknown(f"OKX accepted the cancel of {cl_order_id} but still shows it live", "cancel")
        return ended

    async def _final_state(self, symbol: str, cl_order_id: str, known: Known | None) -> ExecutionReport | None:
        """How an order ended: the orders channel's final state (its fills were reported before it), else
        REST (fills first, so none is lost); None when the venue still shows it live."""
        if known is not None and known.final is not None and self._private is not None and self._private.ws.live:
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(known.final), CONFIRM_TIMEOUT_S)
        row = await self.rest.get_order(symbol, cl_ord_id=self._venue_cl(cl_order_id))
        report = replace(parse.parse_order(row), cl_order_id=cl_order_id)
        if report.cum_filled > (known.cum_filled if known else Decimal(0)):
            for fill in await self.order_fills(symbol, cl_order_id):
                self.tracker.emit(fill)
        self.tracker.emit(report)
        return report if report.status.is_final else None

    async def cancel_all(self, symbol: str) -> None:
        """The ready-made pull: every working order of ``symbol``, 20 per request, all at once."""
        self.rules(symbol)
        book = self._pulls.get(symbol)
        if book is None or not len(book):
            return
        results = await asyncio.gather(*(self.rest.cancel_batch_orders(body) for body in book.bodies()))
        for result in (r for batch in results for r in batch):
            code = str(result.get("sCode", "0"))
            if code not in ("0", CANCEL_FAILED):
                log.warning("okx.pull.item_failed", extra={"code": code, "venue_message": result.get("sMsg")})

    async def query_order(self, symbol: str, cl_order_id: str) -> ExecutionReport | None:
        oco = self._oco_legs.get(cl_order_id)
        if oco is not None:
            return await self._query_oco_leg(oco, cl_order_id)
        try:
            row = await self.rest.get_order(symbol, cl_ord_id=cl_order_id)
        except Rejected as exc:
            if exc.code != NOT_FOUND:
                raise
            algo = await self._algo(symbol, cl_order_id)  # a native contingent order not fired (yet)
            if algo is None:
                return None
            report = parse.parse_algo_order(algo, symbol, str(algo.get("side", "")))
            self.tracker.learn(report)
            return report
        report = parse.parse_order(row)
        self.tracker.learn(report)
        return report

    async def order_fills(self, symbol: str, cl_order_id: str) -> list[ExecutionReport]:
        row = await self.rest.get_order(symbol, cl_ord_id=self._venue_cl(cl_order_id))
        order = replace(parse.parse_order(row), cl_order_id=cl_order_id)
        rows = await self.rest.fills(symbol, ord_id=order.exch_order_id)
        return parse.fills_of(rows, order)

    async def open_orders(self, symbol: str | None = None) -> list[ExecutionReport]:
        rows = await self.rest.orders_pending(symbol or "")
        # an oco's order under the leg that fired (one whose leg is not known yet is left out)
        reports = [r for r in (self._as_leg(parse.parse_order(row)) for row in rows) if r is not None]
        for report in reports:
            self.tracker.note(report)
        return reports

    async def trades_between(self, symbol: str, start_ms: int, end_ms: int) -> TradeWindow:
        """The public trades of ``symbol`` from ``start_ms`` to ``end_ms``: ``history-trades`` read back from the
        newest, 100 a page (``after`` the oldest tradeId read), until a page reaches ``start_ms`` or is short;
        incomplete past ``HISTORY_REQUESTS`` pages (the endpoint allows 10 requests in 2 s)."""
        pages: list[list[Trade]] = []
        after = ""
        for _ in range(HISTORY_REQUESTS):
            page = parse.parse_history_trades(await self.rest.history_trades(symbol, after))
            pages.append(page)
            if len(page) < parse.HISTORY_TRADES_LIMIT or min(t.exch_time_ns for t in page) // 1_000_000 <= start_ms:
                break
            after = page[-1].trade_id
        return parse.history_window(pages, start_ms, end_ms)

    async def positions(self) -> list[VenuePosition]:
        return [parse.parse_position(row) for row in await self.rest.positions("SWAP")]

    # ------------------------------------------------------------------ market data

    @staticmethod
    def _market_args(symbol: str) -> list[dict[str, str]]:
        return [{"channel": "bbo-tbt", "instId": symbol}, {"channel": "trades", "instId": symbol}]

    def _subscribe_market(self, symbol: str) -> None:
        if self._public is None:
            if self._session is None or not self._supervisor.running:
                raise RuntimeError("connector not started")
            self._public = PublicStream(
                self._session, self.hosts.public, self._on_public, self._backoff, self._probe_every_s
            )
            self._public.ws.telemetry = self.telemetry
            self._supervisor.spawn("okx.public", self._public.run)
        self._public.subscribe(self._market_args(symbol))

    def _unsubscribe_market(self, symbol: str) -> None:
        if self._public is not None:
            self._public.unsubscribe(self._market_args(symbol))

    def _on_public(self, msg: dict[str, Any]) -> None:
        arg = msg["arg"]
        symbol = arg.get("instId")
        if not isinstance(symbol, str) or symbol not in self._watchers:
            return
        try:
            if arg.get("channel") == "bbo-tbt":
                for item in msg["data"]:
                    ticker = parse.parse_bbo(symbol, cast(BboItem, item))
                    if ticker is not None:
                        self._watchers.ticker(ticker)
            elif arg.get("channel") == "trades":
                for item in msg["data"]:
                    self._watchers.trade(parse.parse_trade(cast(TradeItem, item)))
        except PARSE_ERRORS as exc:
            log.warning("okx.market.parse_error", extra={"error": repr(exc)})

    # ------------------------------------------------------------------ private events

    def _on_orders(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            try:
                report = parse.parse_order_push(cast(OrderRow, row))
            except PARSE_ERRORS as exc:
                log.warning("okx.orders.parse_error", extra={"error": repr(exc)})
                continue
            self._emit_leg(report)

    def _on_algo_orders(self, rows: list[dict[str, Any]]) -> None:
        """``orders-algo``: a native contingent order of ours that OKX cancelled (anyone's cancel) or failed
        before it fired is reported at once; its algoId is kept for a cancel."""
        for row in rows:
            cl = str(row.get("algoClOrdId", ""))
            oco = self._ocos.get(cl)
            if oco is not None:
                self._on_oco_row(oco, row)
                continue
            known = self.tracker.get(cl) if cl else None
            if known is None:
                continue  # not an order of this connector's
            if row.get("algoId") and str(row.get("state")) in ("live", "pause"):
                self._algo_ids[cl] = str(row["algoId"])
            try:
                report = parse.parse_algo_push(row)
            except PARSE_ERRORS as exc:
                log.warning("okx.orders_algo.parse_error", extra={"error": repr(exc)})
                continue
            if report is not None and known.status is OrderStatus.PENDINGTRIGGER:
                self.tracker.emit(report)

    async def _recover_algos(self) -> None:
        """After the business websocket reconnected: the algo orders believed held, asked by algoClOrdId; one
        that ended meanwhile (cancelled, failed) is reported as the channel would have."""
        for cl, known in list(self.tracker.orders.items()):
            if known.status is not OrderStatus.PENDINGTRIGGER:
                continue
            oco = self._oco_legs.get(cl)
            try:
                if oco is not None:
                    if oco.ended or cl != oco.stop:
                        continue
                    row = await self._oco_row(oco)
                    if row is not None:
                        self._on_oco_row(oco, row)
                    continue
                row = await self._algo(known.symbol, cl)
            except VenueError as exc:
                log.warning("okx.orders_algo.recovery_failed", extra={"error": str(exc)})
                return  # the sweep and the next reconnect try again
            if row is not None:
                self._on_algo_orders([row])

    def _order_final(self, cl_order_id: str, known: Known, report: ExecutionReport) -> None:
        """An order ended: it leaves the instrument's ready-made pull."""
        self._pull(report.symbol).remove(cl_order_id)

    # ------------------------------------------------------------------ gap recovery

    async def _recover_once(self) -> None:
        """Fills since the last one seen (with the state of their orders), then open orders, then the
        final state of every order believed live that is no longer open."""
        since = max(self.tracker.trades_since_ms(None, self._started_ms) - 1000, self._clock_ms() - RECOVERY_WINDOW_MS)
        rows = await self.rest.fills(begin_ms=since)
        ours = [
            r
            for r in rows
            if self.tracker.cl_of(r["ordId"]) is not None
            and not self.tracker.seen(r["instId"], r["tradeId"], r["ordId"])
        ]
        by_order: dict[tuple[str, str], list[FillRow]] = {}
        for row in ours:
            by_order.setdefault((row["instId"], row["ordId"]), []).append(row)
        for (inst_id, ord_id), fills in by_order.items():
            order = self._as_leg(parse.parse_order(await self.rest.get_order(inst_id, ord_id=ord_id)))
            for fill in parse.fills_of(fills, order) if order is not None else []:
                self.tracker.emit(fill)
        pending = await self.rest.orders_pending()
        open_ids = {row["ordId"] for row in pending}
        for pending_row in pending:
            pending_report = self._as_leg(parse.parse_order(pending_row))
            if pending_report is None:
                continue
            if self.tracker.get(pending_report.cl_order_id) is not None and self.tracker.changed(pending_report):
                self.tracker.emit(pending_report)
        for cl_order_id, known in self.tracker.live():
            if known.exch_order_id not in open_ids:
                try:
                    ended = await self.rest.get_order(known.symbol, ord_id=known.exch_order_id)
                except Rejected as exc:
                    if exc.code != NOT_FOUND or not known.exch_order_id:
                        raise
                    self.tracker.vanished(cl_order_id, self._clock_ms() * 1_000_000)
                    continue
                report = replace(parse.parse_order(ended), cl_order_id=cl_order_id)  # an oco leg's: its own id
                self.tracker.emit(report)


def _check_item(result: ItemResult) -> None:
    code = str(result.get("sCode", "0"))
    if code != "0":
        raise classify(200, code, str(result.get("sMsg", "")))


def _json_array(items: list[dict[str, str]]) -> str:
    import json

    return json.dumps(items, separators=(",", ":"))


def _ms_ns(ms: object) -> int:
    try:
        return int(str(ms)) * 1_000_000
    except ValueError:
        return time.time_ns()
