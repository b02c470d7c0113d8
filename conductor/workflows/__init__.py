"""Workflows: named DAGs of jobs, their runs, conditions and compensation.

``dag`` and ``conditions`` are pure; ``models``, ``services`` and ``selectors`` are the
core domain. The API is ``conductor.api.views.workflows``.
"""
