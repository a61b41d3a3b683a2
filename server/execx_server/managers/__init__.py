"""Execution algorithms that act through the order engine like any client.

Each is config + runner + status; its plan is a pure function (no I/O, no clock).
"""
