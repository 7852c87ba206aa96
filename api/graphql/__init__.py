"""The GraphQL layer: Strawberry types and resolvers over :class:`api.service.SearchService`.

Modules: ``types`` (output types), ``inputs`` (filter and posting inputs), ``queries`` and
``mutations`` (root fields), ``errors`` (codes in ``extensions.code``), ``permissions``
(``IsAdmin``), ``context`` (what resolvers get), ``schema`` (assembly, limits) and
``export`` (``python -m api.graphql.export`` writes ``api/schema.graphql``).
"""
