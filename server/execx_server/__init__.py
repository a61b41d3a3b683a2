"""execx: the execution service (gRPC + REST/websocket API, order engine, venue connectors, managers)."""
