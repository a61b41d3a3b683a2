"""Pure types and rules of the execution domain. Imports nothing of ours and does no I/O."""
