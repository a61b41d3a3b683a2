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

Shared by several venues: ``common.py`` (endpoints, websocket registry, fault middleware) and
``jsonrpc.py`` (the JSON-RPC dialect of Deribit and Pulse).
"""
