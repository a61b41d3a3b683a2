"""The admin HTTP API (loopback): accounts, balances, market control and fault injection.

All bodies are JSON; numbers may be JSON numbers or decimal strings. Errors are
``{"error": "<what>"}`` with HTTP 400 / 404. Documented in README.md ("Admin API").
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .core.types import Side
from .venues.bybit.wire import exec_id as bybit_exec_id
from .venues.common import dumps

if TYPE_CHECKING:
    from .app import Simulator

log = logging.getLogger("execx_sim.admin")


class BadRequest(Exception):
    pass


def _dec(body: dict[str, Any], key: str) -> Decimal:
    if key not in body:
        raise BadRequest(f"{key} is required")
    if isinstance(body[key], bool) or not isinstance(body[key], int | float | str):
        raise BadRequest(f"{key} must be a decimal number")
    try:
        value = Decimal(str(body[key]))
    except InvalidOperation:
        raise BadRequest(f"{key} must be a decimal number") from None
    if not value.is_finite():
        raise BadRequest(f"{key} must be finite")
    return value


def _positive(body: dict[str, Any], key: str) -> Decimal:
    value = _dec(body, key)
    if value <= 0:
        raise BadRequest(f"{key} must be positive")
    return value


def _int(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    """An integer in ``[low, high]``: a JSON integer or a string of digits."""
    raw = body.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise BadRequest(f"{key} must be an integer in [{low}, {high}]")
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{key} must be an integer in [{low}, {high}]") from None
    if not low <= value <= high:
        raise BadRequest(f"{key} must be an integer in [{low}, {high}]")
    return value


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise BadRequest(f"{key} must be a non-empty string")
    return value


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} is required (string)")
    return value


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json")


MARGIN_WALLET = "binance-margin"  # /admin/balances: an account's Binance cross-margin wallet


def admin_app(sim: Simulator) -> web.Application:
    ex = sim.exchange
    routes = web.RouteTableDef()

    async def body_of(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise BadRequest("body must be JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        return body

    def market_of(body: dict[str, Any]) -> Any:
        name = _str(body, "market")
        market = ex.markets.get(name)
        if market is None:
            raise BadRequest(f"unknown market {name!r}; known: {sorted(ex.markets)}")
        return market

    def account_of(body: dict[str, Any]) -> Any:
        account = ex.account_by_key(_str(body, "apiKey"))
        if account is None:
            raise BadRequest("unknown apiKey")
        return account

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            resp: web.StreamResponse = await handler(request)
            return resp
        except (BadRequest, ValueError, KeyError) as e:
            return _json({"error": str(e).strip("'\"")}, 400)
        except web.HTTPException:
            raise
        except Exception as e:  # a bug: still a JSON answer, and logged
            log.exception("admin.unhandled", extra={"path": request.path})
            return _json({"error": f"internal error: {type(e).__name__}"}, 500)

    @routes.get("/admin/state")
    async def state(request: web.Request) -> web.Response:
        return _json(
            {
                "markets": {
                    name: {
                        sym: {"mid": str(m.mark_price(sym)), "last": str(m.last_price.get(sym, ""))}
                        for sym in m.instruments
                    }
                    for name, m in ex.markets.items()
                },
                "paused": sim.synthetic.paused,
                "faults": {name: f.snapshot() for name, f in sim.faults.items()},
            }
        )

    @routes.post("/admin/accounts")
    async def create_account(request: web.Request) -> web.Response:
        body = await body_of(request)
        api_key, secret_key = _opt_str(body, "apiKey"), _opt_str(body, "secretKey")
        passphrase = body.get("passphrase")
        if passphrase is not None and not isinstance(passphrase, str):
            raise BadRequest("passphrase must be a string")
        balances = body.get("balances")
        parsed = []
        if balances is not None:  # validated in full before the account exists
            if not isinstance(balances, dict) or not all(isinstance(a, dict) for a in balances.values()):
                raise BadRequest("balances must be {market: {asset: amount}}")
            parsed = [
                (market_of({"market": market_name}), str(asset), _dec({"amount": amount}, "amount"))
                for market_name, assets in balances.items()
                for asset, amount in assets.items()
            ]
        account = ex.create_account(api_key=api_key, secret_key=secret_key, passphrase=passphrase)
        if balances is None:
            sim.fund_default(account)
        for market, asset, amount in parsed:
            market.adjust_balance(account, asset, amount)
        return _json({"accountId": account.account_id, **account.public()})

    @routes.post("/admin/balances")
    async def set_balance(request: web.Request) -> web.Response:
        body = await body_of(request)
        if body.get("market") == MARGIN_WALLET:
            # The account's Binance cross-margin wallet (its linked "<accountId>:margin" engine account).
            from .venues.binance.spot_frontend import SpotFrontend

            spot = next(fe for fe in sim.frontends if isinstance(fe, SpotFrontend))
            account, market = spot.margin.account(account_of(body)), spot.market
        else:
            account, market = account_of(body), market_of(body)
        market.adjust_balance(account, _str(body, "asset"), _dec(body, "amount"))
        return _json({"ok": True})

    @routes.get("/admin/account")
    async def account_state(request: web.Request) -> web.Response:
        """The venue-side truth of one account: per market, each asset's ``free``, ``locked`` (spot orders)
        and ``orderMargin`` (derivative orders), and each open position with its entry, mark, unrealised
        PnL, leverage and initial margin (docs/accounts.md)."""
        account = account_of(dict(request.query))
        out: dict[str, Any] = {}
        for name, market in ex.markets.items():
            wallet = account.wallets.get(name)
            if wallet is None:
                continue
            positions = {}
            for sym, pos in wallet.positions.items():
                inst = market.instruments.get(sym)
                if inst is None or not pos.qty:
                    continue
                mark = market.mark_price(sym)
                positions[sym] = {
                    "qty": str(pos.qty),
                    "entryPrice": str(pos.entry_price),
                    "markPrice": str(mark),
                    "unrealizedPnl": str(pos.unrealized(inst, mark)),
                    "leverage": pos.leverage,
                    "initialMargin": str(pos.initial_margin(inst, mark)),
                    "marginAsset": inst.margin_asset,
                }
            balances = {
                asset: {
                    "free": str(bal.free),
                    "locked": str(bal.locked),
                    "orderMargin": str(wallet.order_margin.get(asset, 0)),
                }
                for asset, bal in wallet.balances.items()
            }
            out[name] = {"balances": balances, "positions": positions}
        return _json(out)

    @routes.post("/admin/leverage")
    async def set_leverage(request: web.Request) -> web.Response:
        body = await body_of(request)
        account, market = account_of(body), market_of(body)
        market.set_leverage(account, _str(body, "symbol"), _int(body, "leverage", 20, 1, 125))
        return _json({"ok": True})

    @routes.get("/admin/book")
    async def book(request: web.Request) -> web.Response:
        market = market_of(dict(request.query))
        symbol = request.query.get("symbol", "")
        if symbol not in market.books:
            raise BadRequest(f"unknown symbol {symbol!r}")
        bids, asks = market.books[symbol].depth(_int(dict(request.query), "limit", 10, 1, 5000))
        return _json({"bids": [[str(p), str(q)] for p, q in bids], "asks": [[str(p), str(q)] for p, q in asks]})

    @routes.get("/admin/history")
    async def history(request: web.Request) -> web.Response:
        """The venue-side truth of one account on one market: every order the market still remembers
        (open, and closed up to its retention) and every own fill still kept, in the order they happened.
        ``venueTradeId`` is the fill's id as the venue's wire protocol spells it (Bybit's ``execId`` is a
        UUID; every other venue sends the number). ``clientOrderId`` is the id the client gave: Deribit's and
        Pulse's ``label``."""
        query = dict(request.query)
        account, market = account_of(query), market_of(query)
        orders = sorted(
            (o for o in market.orders.values() if o.account_id == account.account_id), key=lambda o: o.order_id
        )
        by_id = {o.order_id: o for o in orders}

        def client_id(o: Any) -> str:
            # Deribit and Pulse name an order by its label (the engine's own client id is internal there)
            return str(o.extra.get("label") or o.client_id)

        bybit = market.name.startswith("bybit-")
        trades = []
        for f in market.account_trades(account):
            owner = by_id.get(f.order_id)
            trades.append(
                {
                    "tradeId": str(f.trade_id),
                    "venueTradeId": bybit_exec_id(f) if bybit else str(f.trade_id),
                    "orderId": str(f.order_id),
                    "clientOrderId": client_id(owner) if owner is not None else None,
                    "symbol": f.symbol,
                    "side": f.side.value.lower(),
                    "qty": str(f.qty),
                    "price": str(f.price),
                    "isMaker": f.is_maker,
                    "timeMs": f.time_ms,
                }
            )
        return _json(
            {
                "market": market.name,
                "orders": [
                    {
                        "orderId": str(o.order_id),
                        "clientOrderId": client_id(o),
                        "symbol": o.symbol,
                        "side": o.side.value.lower(),
                        "type": o.type.value,
                        "timeInForce": o.tif.value,
                        "status": o.status.value,
                        "qty": str(o.qty),
                        "filledQty": str(o.filled),
                        "price": None if o.price is None else str(o.price),
                        "expireReason": o.expire_reason,
                        "createdMs": o.created_ms,
                        "updatedMs": o.updated_ms,
                    }
                    for o in orders
                ],
                "trades": trades,
            }
        )

    @routes.post("/admin/market/move")
    async def move(request: web.Request) -> web.Response:
        body = await body_of(request)
        sim.synthetic.move_to(market_of(body).name, _str(body, "symbol"), _positive(body, "price"))
        return _json({"ok": True})

    @routes.post("/admin/market/trade")
    async def trade(request: web.Request) -> web.Response:
        body = await body_of(request)
        aggressor = _str(body, "aggressor").upper()
        if aggressor not in ("BUY", "SELL"):
            raise BadRequest("aggressor must be buy or sell")
        sim.synthetic.print_trade(
            market_of(body).name,
            _str(body, "symbol"),
            _positive(body, "price"),
            _positive(body, "qty"),
            Side(aggressor),
        )
        return _json({"ok": True})

    @routes.post("/admin/ids")
    async def ids(request: web.Request) -> web.Response:
        """Continue one market's order and trade numbering after the given ids (a restarted venue never
        reuses an id): ``{"market", "orderId", "tradeId"}``."""
        body = await body_of(request)
        market = market_of(body)
        market.advance_ids(_int(body, "orderId", 0, 0, 2**63 - 1), _int(body, "tradeId", 0, 0, 2**63 - 1))
        return _json({"ok": True})

    @routes.post("/admin/market/pause")
    async def pause(request: web.Request) -> web.Response:
        sim.synthetic.paused = True
        return _json({"paused": True})

    @routes.post("/admin/market/resume")
    async def resume(request: web.Request) -> web.Response:
        sim.synthetic.paused = False
        return _json({"paused": False})

    @routes.post("/admin/market/step")
    async def step(request: web.Request) -> web.Response:
        body = await body_of(request)
        for _ in range(_int(body, "steps", 1, 1, 1000)):
            sim.synthetic.step_all()
        return _json({"ok": True})

    def faults_of(request: web.Request) -> Any:
        venue = request.match_info["venue"]
        faults = sim.faults.get(venue)
        if faults is None:
            raise BadRequest(f"unknown venue {venue!r}; known: {sorted(sim.faults)}")
        return faults

    @routes.get("/admin/faults/{venue}")
    async def get_faults(request: web.Request) -> web.Response:
        return _json(faults_of(request).snapshot())

    @routes.post("/admin/faults/{venue}")
    async def set_faults(request: web.Request) -> web.Response:
        faults = faults_of(request)
        faults.update(await body_of(request))
        return _json(faults.snapshot())

    @routes.delete("/admin/faults/{venue}")
    async def reset_faults(request: web.Request) -> web.Response:
        faults = faults_of(request)
        fresh = type(faults)()
        fresh.drop_generation = faults.drop_generation
        faults.__dict__.update(fresh.__dict__)
        return _json(faults.snapshot())

    @routes.post("/admin/faults/{venue}/drop")
    async def drop(request: web.Request) -> web.Response:
        faults = faults_of(request)
        faults.drop_generation += 1
        dropped = 0
        for fe in sim.frontends:
            if fe.venue == request.match_info["venue"]:
                registry = getattr(fe, "sockets", None)
                if registry is not None:
                    dropped += len(registry)
                    await registry.drop_all()
        return _json({"dropped": dropped})

    def limiter_of(request: web.Request) -> Any:
        faults_of(request)  # validates the venue name
        for fe in sim.frontends:
            limiter = getattr(fe, "limiter", None)
            if fe.venue == request.match_info["venue"] and limiter is not None:
                return limiter
        raise BadRequest(f"venue {request.match_info['venue']!r} has no rate limiter")

    @routes.get("/admin/ratelimits/{venue}")
    async def get_limits(request: web.Request) -> web.Response:
        limiter = limiter_of(request)
        body: dict[str, Any] = {"enabled": limiter.enabled, "rateLimits": limiter.describe()}
        counts = getattr(limiter, "request_counts", None)
        if counts is not None:  # venues that tally requests (Bybit: per category and endpoint)
            body["requests"] = counts()
        return _json(body)

    @routes.post("/admin/ratelimits/{venue}")
    async def set_limits(request: web.Request) -> web.Response:
        """``{"REQUEST_WEIGHT"?: n, "ORDERS"?: n, "RAW_REQUESTS"?: n, "enabled"?: bool}``: every window of
        that kind gets limit n (exchangeInfo reports it, so clients adapt); ``enabled: false`` still
        counts and reports usage but never refuses. Deribit's and Pulse's credit kinds (``MATCHING_ENGINE``,
        ``NON_MATCHING_ENGINE``) become n per second with a burst of n."""
        limiter = limiter_of(request)
        body = await body_of(request)
        kinds = {lim.kind for lim in limiter.limits}
        updates: dict[str, int] = {}
        for key, value in body.items():
            if key == "enabled":
                if not isinstance(value, bool):
                    raise BadRequest("enabled must be true or false")
                continue
            if key not in kinds:
                raise BadRequest(f"unknown rate limit {key!r}; known: {sorted(kinds)}")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BadRequest(f"{key} must be a positive integer")
            updates[key] = value
        for lim in limiter.limits:
            if lim.kind in updates:
                lim.limit = updates[lim.kind]
        if "enabled" in body:
            limiter.enabled = body["enabled"]
        return _json({"enabled": limiter.enabled, "rateLimits": limiter.describe()})

    app = web.Application(middlewares=[errors])
    app.add_routes(routes)
    return app
