"""Input and output shapes of the recovery API, one module per entity.

Names are globally unique (drf-spectacular names OpenAPI components after them).
Inputs use the strict fields of ``fields``; bounds come from the recovery modules that
enforce them again (services validate whatever calls them: the API or the admin).
"""
