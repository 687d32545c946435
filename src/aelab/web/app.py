"""The Starlette application of `aelab serve`: a page, its scripts, and a JSON API that only reads.

Every run named by the browser is resolved under the runs folder first (`runs.resolve_run`); every failure is a
JSON `{"error": ...}` with a 4xx status (a 500 for a bug, still one line, never a traceback)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import AelabError
from . import runs as R
from .search import MAX_UPLOAD, Searcher, whole_number

STATIC = Path(__file__).parent / "static"
FILES = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}


def plotly_js() -> Path:
    """Plotly's JavaScript bundle, from the plotly package of the web extra (the page needs no internet)."""
    spec = importlib.util.find_spec("plotly")
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise AelabError("Plotly's bundle is missing: pip install 'aelab[web]'")
    return path


def make_app(root: Path, index: Path | None = None) -> Starlette:
    """The app serving the runs under `root` (and searching `index`, a folder of `aelab index build`)."""
    root = Path(root).resolve()
    searcher = Searcher(Path(index)) if index is not None else None  # opened now: a bad index stops the start

    def run_path(request: Request) -> Path:
        return R.resolve_run(root, request.query_params.get("id", ""))

    def number(request: Request, name: str, default: int | None = None) -> int:
        value = whole_number(request.query_params.get(name), name, 0, None)
        if value is None:
            if default is None:
                raise AelabError(f"give {name}, a whole number")
            return default
        return value

    def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript")
        if name not in FILES:
            raise R.NotFound(f"no file {name!r}")
        return FileResponse(STATIC / name, media_type=FILES[name])

    def api_runs(request: Request) -> Response:
        return JSONResponse({**R.list_runs(root), "root": str(root), "search": searcher.about() if searcher else None})

    def api_curves(request: Request) -> Response:
        return JSONResponse(R.curves(run_path(request)))

    def api_map(request: Request) -> Response:
        return JSONResponse(R.latent_map(run_path(request)))

    def api_item(request: Request) -> Response:
        return JSONResponse(R.item(run_path(request), number(request, "i")))

    def api_interpolate(request: Request) -> Response:
        return JSONResponse(R.interpolation(run_path(request), number(request, "a"), number(request, "b"),
                                            number(request, "steps", 10)))

    def api_sample(request: Request) -> Response:
        return JSONResponse(R.samples(run_path(request), 16, number(request, "seed", 0)))

    def api_restore(request: Request) -> Response:
        return JSONResponse(R.before_after(run_path(request), number(request, "i")))

    def api_through(request: Request) -> Response:
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not ids:
            raise AelabError("choose at least one run")
        return JSONResponse(R.through_models(root, ids[:8]))

    async def api_search(request: Request) -> Response:
        if searcher is None:
            raise R.NotFound("this page was started without --index: there is nothing to search")
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_UPLOAD + 2**16:
            return JSONResponse({"error": f"the query is {int(length) / 2**20:.1f} MiB; an image may be at most "
                                          f"{MAX_UPLOAD // 2**20} MiB"}, status_code=413)
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("image")
        image = None
        if upload is not None and not isinstance(upload, str):
            image = await upload.read(MAX_UPLOAD + 1)
        from starlette.concurrency import run_in_threadpool

        found = await run_in_threadpool(searcher.search, text=_text(form.get("text")), item=_text(form.get("item")),
                                        image=image, top=_text(form.get("top")), radius=_text(form.get("radius")))
        return JSONResponse(found)

    routes = [Route("/", page), Route("/static/{name}", static), Route("/api/runs", api_runs),
              Route("/api/run/curves", api_curves), Route("/api/run/map", api_map), Route("/api/run/item", api_item),
              Route("/api/run/interpolate", api_interpolate), Route("/api/run/sample", api_sample),
              Route("/api/run/restore", api_restore), Route("/api/compare/images", api_through),
              Route("/api/search", api_search, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={R.NotFound: _not_found, AelabError: _bad_request,
                                                        HTTPException: _http, Exception: _bug})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=404)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=400)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _bug(request: Request, exc: Exception) -> Response:
    first = (str(exc).splitlines() or [""])[0][:300]
    return JSONResponse({"error": f"internal error ({type(exc).__name__}: {first}); the server's log has the rest"},
                        status_code=500)
