"""Built-in job types: the demo types, ``http.request`` and ``email.send``."""
