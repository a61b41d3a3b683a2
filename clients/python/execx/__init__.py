"""Client side of the execx API. ``execx.v1`` holds the generated messages and gRPC stubs."""
