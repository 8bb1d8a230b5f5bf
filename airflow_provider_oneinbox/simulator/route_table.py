"""
The simulator's route templates (``/v1/calls/{call_id}``) and which one a request path matches.

The middleware answers some requests before FastAPI routes them (a wrong key, an injected fault)
and still logs and filters them by route template. It matches paths itself, from the app's
OpenAPI document (a public FastAPI API), instead of walking the router's routes: their types and
attributes are Starlette/FastAPI internals that change between releases (FastAPI 0.165's
``_IncludedRouter`` has no ``path``).
"""

from __future__ import annotations

import re
from typing import Any

#: A path parameter without a converter matches one path segment, as Starlette's ``{name}`` does.
_PARAM = re.compile(r"\{[^{}/]+\}")
#: The methods FastAPI serves for the docs pages it adds itself (they are not in the OpenAPI document).
_DOCS_METHODS = frozenset({"GET", "HEAD"})


class RouteTable:
    """
    Route templates with their methods, in the app's order; static paths win over parameterised ones.

    :param routes: ``(template, methods)`` pairs, e.g. ``("/v1/calls/{call_id}", {"GET", "PATCH"})``.
    """

    def __init__(self, routes: list[tuple[str, frozenset[str]]]) -> None:
        self._static: dict[str, frozenset[str]] = {}
        self._templated: list[tuple[re.Pattern[str], str, frozenset[str]]] = []
        for template, methods in routes:
            if _PARAM.search(template) is None:
                self._static[template] = self._static.get(template, frozenset()) | methods
            else:
                pattern = "^" + "[^/]+".join(re.escape(part) for part in _PARAM.split(template)) + "$"
                self._templated.append((re.compile(pattern), template, methods))

    @classmethod
    def of_app(cls, app: Any) -> RouteTable:
        """
        The routes a FastAPI app serves: every operation of its OpenAPI document, plus its docs pages.

        :param app: The FastAPI application (its OpenAPI document is built now, and cached by FastAPI).
        """
        routes = [
            (path, frozenset(method.upper() for method in operations))
            for path, operations in app.openapi().get("paths", {}).items()
        ]
        docs = [app.openapi_url, app.docs_url, app.redoc_url]
        if app.docs_url and app.swagger_ui_oauth2_redirect_url:
            docs.append(app.swagger_ui_oauth2_redirect_url)
        routes.extend((url, _DOCS_METHODS) for url in docs if url)
        return cls(routes)

    def match(self, method: str, path: str, any_method: bool = False) -> str | None:
        """
        The template of the route serving ``method path``, or ``None``.

        :param method: The request method.
        :param path: The request path.
        :param any_method: Fall back to a route with that path but another method (FastAPI answers
            those with 405 and still names the route).
        """
        fallback: str | None = None
        methods = self._static.get(path)
        if methods is not None:
            if method in methods:
                return path
            fallback = path
        for pattern, template, methods in self._templated:
            if pattern.match(path) is not None:
                if method in methods:
                    return template
                fallback = fallback or template
        return fallback if any_method else None
