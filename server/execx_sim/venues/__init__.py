"""The simulator's venues, one package each, over the one matching engine (``execx_sim.core``).

Every venue package exports ``frontends(sim)``, the ``VenueFrontend`` objects the app serves, and
names its modules by one scheme (a module a venue does not need is absent):

- ``frontend.py`` — the venue object: the front-end(s) the app registers, owning the venue's
  hosts, faults, sockets (and rate limiter, where it has one). A package with several products
  keeps one per product, ``<product>_frontend.py`` (Binance: ``spot_frontend.py``,
  ``futures_frontend.py``), and prefixes that product's other modules the same way
  (``spot_rest.py``, ``futures_ws.py``, …);
- ``auth.py`` (request signing and timestamp checks), ``errors.py`` (the venue's error codes and
  bodies), ``ratelimit.py`` (the venue's limits, headers and errors over ``core.ratelimit``, the one
  counter; ``take(kind, …)`` everywhere);
- ``instruments.py`` (the venue's symbols over the engine's instruments), ``trading.py`` (order-entry
  semantics), ``wire.py`` (engine state in the venue's wire shapes), ``marketdata.py`` (public data);
- transports: ``rest.py``, ``ws.py``, or the venue's own protocol (``rpc.py``, ``fix.py``).

Shared by several venues: ``common.py`` (endpoints, websocket registry, fault middleware, JSON) and
``jsonrpc.py`` (the JSON-RPC dialect of Deribit and Pulse: its server, ``public/auth``, errors, credits).

The module set of each venue today (a venue's product prefix where it has several products):

=========== ==================================================================================
binance     frontend: ``spot_frontend``, ``futures_frontend``; ``instruments``, ``auth``,
            ``errors``, ``ratelimit``, ``marketdata``; trading: ``spot_trading``, ``futures_algo``
            (conditional orders), ``margin``; wire: ``spot_wire``, ``futures_wire``; transports:
            ``rest_common`` (the REST plumbing both products share), ``spot_rest``, ``futures_rest``,
            ``spot_ws`` (WebSocket API), ``spot_streams``, ``futures_ws``. Futures order entry
            lives in ``futures_frontend`` (REST and WebSocket API share it).
bybit       ``frontend`` (its websockets: private, trade, public), ``instruments``, ``auth``,
            ``errors``, ``ratelimit``, ``trading``, ``dcp`` (disconnect cancel protection),
            ``wire``, ``marketdata``, ``rest``
okx         ``frontend``, ``instruments``, ``auth``, ``errors``, ``ratelimit``, ``trading``,
            ``algo`` (algo orders), ``wire``, ``marketdata``, ``rest``, ``ws``
deribit     ``frontend``, ``instruments``, ``errors``, ``trading``, ``mmp`` (market maker
            protection), ``linked`` (Pulse's linked orders, ``otoco_config``), ``marketdata``,
            ``rpc`` (its JSON-RPC methods and channels), ``fix`` and ``fix_session`` (FIX 4.4);
            auth and rate limits (credits) are ``jsonrpc``'s
pulse       ``frontend`` (Deribit's ``rpc`` in Pulse's dialect) and ``instruments``: its trading,
            errors, auth and credits are Deribit's and ``jsonrpc``'s, so it has no modules of its own
            for them
=========== ==================================================================================
"""
