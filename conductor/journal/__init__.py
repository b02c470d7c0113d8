"""The event journal: one writer, one catalogue, one reader.

- ``catalogue``: every event type, with its subject, data fields and topic (pure).
- ``writer``: the one way events are appended, inside the change's transaction.
- ``reader``: events after a cursor, which never skips an event whose transaction
  commits after a later-numbered one (see ``reader``'s docstring).
"""
