"""The simulator's venues, one package each, over the one matching engine (``execx_sim.core``).

Every venue package exports ``frontends(sim)``, the ``VenueFrontend`` objects the app serves, and
names its modules by one scheme (a module a venue does not need is absent, none is empty):

- ``frontend.py`` — the venue object: the front-end(s) the app registers, wiring REST and websockets,
  owning the venue's hosts, faults, sockets, timers (and rate limiter, where it has one), and turning
  engine events into pushes. A package with several products keeps one per product,
  ``<product>_frontend.py`` (Binance: ``spot_frontend.py``, ``futures_frontend.py``), and prefixes that
  product's other modules the same way (``spot_rest.py``, ``futures_ws.py``, …);
- ``auth.py`` (request signing and timestamp checks), ``errors.py`` (the venue's error codes and
  bodies), ``ratelimit.py`` (the venue's limits, headers and errors over ``core.ratelimit``, the one
  counter; ``take(kind, …)`` everywhere);
- ``instruments.py`` (the venue's symbols over the engine's instruments), ``trading.py`` (order-entry
  semantics, shared by every transport), ``wire.py`` (engine state in the venue's wire shapes),
  ``marketdata.py`` (public data);
- transports: ``rest.py`` (REST routes), ``ws.py`` (websockets), or the venue's own protocol
  (``rpc.py``, ``fix.py``).

Shared by several venues: ``common.py`` (endpoints, websocket registry, fault middleware, JSON) and
``jsonrpc.py`` (the JSON-RPC dialect of Deribit and Pulse: its server, ``public/auth``, errors, credits).

The module set of each venue (a venue's product prefix where it has several products):

=========== ==================================================================================
binance     ``instruments``, ``auth``, ``errors``, ``ratelimit``, ``marketdata``, ``rest_common`` (the
            REST plumbing both products share: parameters, security types, weights); per product
            (``spot_``, ``futures_``): ``frontend``, ``rest``, ``ws`` (the WebSocket API),
            ``streams``, ``trading``, ``wire``; extras: ``futures_algo`` (conditional orders on the
            Algo Order API), ``spot_lists`` (spot order lists, OCO), ``margin`` (cross margin on the
            spot hosts)
bybit       ``frontend``, ``instruments``, ``auth``, ``errors``, ``ratelimit``, ``trading``, ``wire``,
            ``marketdata``, ``rest``, ``ws`` (private, trade and public); extra: ``dcp`` (disconnect
            cancel protection)
okx         ``frontend``, ``instruments``, ``auth``, ``errors``, ``ratelimit``, ``trading``, ``wire``,
            ``marketdata``, ``rest``, ``ws``; extra: ``algo`` (algo orders)
deribit     ``frontend``, ``instruments``, ``errors``, ``trading``, ``marketdata``, ``rpc`` (its
            JSON-RPC methods, channels and their wire shapes), ``fix`` and ``fix_session`` (FIX 4.4);
            extras: ``mmp`` (market maker protection), ``linked`` (Pulse's linked orders,
            ``otoco_config``)
pulse       ``frontend`` (Deribit's ``rpc`` in Pulse's dialect) and ``instruments``
=========== ==================================================================================

The justified exceptions:

- Binance serves two websocket hosts per product, the WebSocket API and the market / user-data
  streams, hence ``<product>_ws`` and ``<product>_streams`` instead of one ``ws``.
- Deribit and Pulse speak JSON-RPC (and Deribit FIX), not REST + websockets: ``rpc`` / ``fix`` are
  their transports, and their auth and rate limits (credits) are ``jsonrpc``'s, so neither has
  ``auth`` or ``ratelimit``. Pulse reuses Deribit's ``rpc``, ``trading``, ``errors`` and
  ``marketdata`` and ``jsonrpc``'s auth and credits, so it has no modules of its own for them.

Not yet on the scheme: Binance futures' ``depth``, ``klines`` and ``exchangeInfo`` are still methods of
``futures_frontend`` (spot's are in ``spot_wire``), and Deribit's wire shapes (``order_json`` …) are
methods of ``rpc`` (it has no ``wire``).
"""
