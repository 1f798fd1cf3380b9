"""The crash server's Flask application and its HTTP API (docs/server.md, "HTTP API").

Every upload is processed inside its request: read (bounded), decoded, analysed, stored in one
transaction, and only then answered. gunicorn's worker processes give the parallelism; the
database orders their writes. So a 201/200 means "committed", and a server killed at any moment
has stored either the whole crash or nothing of it.
"""

from __future__ import annotations

import io
import time
from typing import Any, Dict, Optional, Tuple

from flask import Flask, Response, current_app, jsonify, request, url_for
from werkzeug.http import parse_options_header

from ..plugins import SEVERITIES
from . import auth, ingest
from .config import ServerConfig
from .store import Filters, Store, StoreError

API = "/api/v1"
READ_CHUNK = 1 << 20


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> Tuple[Response, int]:
    return jsonify(error=message), status


def _store() -> Store:
    return current_app.extensions["btengine.store"]  # type: ignore[no-any-return]


def _config() -> ServerConfig:
    return current_app.extensions["btengine.config"]  # type: ignore[no-any-return]


def read_body(limit: int) -> bytes:
    """The request body, refusing (413) a declared Content-Length over `limit` before reading
    any of it, and a chunked body as soon as it passes `limit`."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise ingest.IngestError(413, f"upload of {declared} bytes is over the limit of {limit} bytes "
                                      "(--max-upload-size)")
    stream = request.stream
    buf = bytearray()
    while True:
        chunk = stream.read(min(READ_CHUNK, limit + 1 - len(buf)))
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            raise ingest.IngestError(413, f"upload over the limit of {limit} bytes (--max-upload-size)")
    if declared is not None and len(buf) < declared:
        raise ingest.IngestError(400, f"truncated body: {len(buf)} of {declared} bytes")
    return bytes(buf)


def filters_from_args(args: Any) -> Filters:
    """Filters from query parameters: version, host, kind, severity, since, until (seconds since
    the epoch), text (or q), attr.KEY=VALUE. BadRequest (400) for a malformed one."""
    f = Filters()
    for key in ("version", "host", "kind", "severity"):
        v = args.get(key)
        if v:
            setattr(f, key, v)
    if f.severity and f.severity not in SEVERITIES:
        raise BadRequest(400, f"severity must be one of {', '.join(SEVERITIES)}")
    for key in ("since", "until"):
        v = args.get(key)
        if v:
            try:
                setattr(f, key, float(v))
            except ValueError:
                raise BadRequest(400, f"{key} must be seconds since the epoch, not {v!r}") from None
    text = args.get("text") or args.get("q")
    if text:
        f.text = text
    for key in args:
        if key.startswith("attr.") and len(key) > 5 and args.get(key) is not None:
            f.attributes[key[5:]] = args.get(key)
    return f


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    v = request.args.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise BadRequest(400, f"{name} must be an integer, not {v!r}") from None
    if not lo <= n <= hi:
        raise BadRequest(400, f"{name} must be between {lo} and {hi}")
    return n


def _ingest_response(result: ingest.IngestResult, plain: bool = False) -> Tuple[Response, int]:
    status = 201 if result.created else 200
    if plain:  # Breakpad/Crashpad clients keep the body as the report's id
        return Response(f"CrashID=bt-{result.id}\n", mimetype="text/plain"), status
    body = result.to_json()
    body["url"] = url_for("api.crash", crash_id=result.id, _external=True)
    if "web.crash_page" in current_app.view_functions:  # the page a person opens (bt prints it)
        body["page"] = url_for("web.crash_page", crash_id=result.id, _external=True)
    return jsonify(body), status


def create_app(config: ServerConfig) -> Flask:
    """The application: the API (blueprint "api"), the web UI when btengine.server.web imports,
    the Store and the config in app.extensions."""
    from flask import Blueprint

    app = Flask("btengine.server")
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_size  # the UI's forms; uploads check themselves
    app.config["JSON_SORT_KEYS"] = False
    store = Store.open(config.db_url)
    app.extensions["btengine.store"] = store
    app.extensions["btengine.config"] = config
    opts = ingest.AnalysisOptions.from_config(config)
    ingest.load_plugins(opts.plugins)  # once per process, now rather than in the first upload
    api = Blueprint("api", __name__)

    @api.errorhandler(BadRequest)
    def _bad(e: BadRequest) -> Tuple[Response, int]:
        return _error(e.status, e.message)

    @api.errorhandler(ingest.IngestError)
    def _refused(e: ingest.IngestError) -> Tuple[Response, int]:
        return _error(e.status, e.message)

    @api.errorhandler(StoreError)
    def _store_down(e: StoreError) -> Tuple[Response, int]:
        return _error(503, f"the crash store is unavailable: {e}")

    def upload_attributes(extra: Dict[str, str]) -> Dict[str, str]:
        attrs = {k[5:]: v for k, v in request.args.items() if k.startswith("attr.") and len(k) > 5}
        attrs.update(extra)
        return attrs

    @api.route(f"{API}/crashes", methods=["POST"])
    @auth.require("upload")
    def upload() -> Tuple[Response, int]:
        limit = config.max_upload_size
        body = ingest.decode_body(read_body(limit), request.headers.get("Content-Encoding"), limit)
        if body.startswith(ingest.GZIP_MAGIC):  # `curl --data-binary @x.dmp.gz` without the header
            body = ingest.gunzip(body, limit)
        # bt upload names the file in Content-Disposition (as a browser would).
        disposition = parse_options_header(request.headers.get("Content-Disposition", ""))[1]
        name = request.args.get("filename") or request.headers.get("X-Filename") or disposition.get("filename")
        result = ingest.ingest(store, body, opts, filename=name, upload_attributes=upload_attributes({}),
                               tmp_dir=config.tmp_dir)
        return _ingest_response(result)

    @api.route("/submit", methods=["POST"])
    @auth.require("upload")
    def submit() -> Tuple[Response, int]:
        """Breakpad/Crashpad: multipart/form-data, the dump in upload_file_minidump, every other
        field an attribute (Crashpad's annotations: prod, ver, guid, ...)."""
        from werkzeug.exceptions import RequestEntityTooLarge
        from werkzeug.formparser import parse_form_data
        limit = config.max_upload_size
        body = ingest.decode_body(read_body(limit), request.headers.get("Content-Encoding"), limit)
        ctype = request.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise BadRequest(415, "expected multipart/form-data with the dump in upload_file_minidump "
                                  f"(got {ctype or 'no Content-Type'}); raw dumps go to {API}/crashes")
        environ = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": ctype, "REQUEST_METHOD": "POST"}
        try:
            _, form, files = parse_form_data(environ, silent=False, max_content_length=limit,
                                             max_form_memory_size=1 << 20, max_form_parts=1000)
        except RequestEntityTooLarge:
            raise BadRequest(413, "multipart form too large") from None
        except ValueError as e:
            raise BadRequest(400, f"malformed multipart body: {e}") from None
        upload_file = files.get("upload_file_minidump")
        if upload_file is None:
            raise BadRequest(400, "no upload_file_minidump field in the form")
        data = upload_file.read(limit + 1)
        if len(data) > limit:
            raise BadRequest(413, f"dump over the limit of {limit} bytes")
        if data.startswith(ingest.GZIP_MAGIC):
            data = ingest.gunzip(data, limit)
        fields = {k: v for k, v in form.items() if k != "upload_file_minidump"}
        result = ingest.ingest(store, data, opts, filename=upload_file.filename,
                               upload_attributes=upload_attributes(fields), tmp_dir=config.tmp_dir)
        return _ingest_response(result, plain=True)

    @api.route(f"{API}/groups")
    @auth.require("read")
    def groups() -> Response:
        f = filters_from_args(request.args)
        order = request.args.get("order", "risk")
        if order not in ("risk", "count", "last_seen", "first_seen"):
            raise BadRequest(400, "order must be risk, count, last_seen or first_seen")
        limit = _int_arg("limit", 50, 1, 1000)
        offset = _int_arg("offset", 0, 0, 1 << 40)
        now = time.time()
        rows = store.groups(f, order=order, limit=limit, offset=offset, now=now)
        return jsonify(groups=rows, total=store.group_count(f), limit=limit, offset=offset, now=now)

    @api.route(f"{API}/groups/<int:group_id>")
    @auth.require("read")
    def group(group_id: int) -> Any:
        g = store.group(group_id)
        if g is None:
            return _error(404, f"no group {group_id}")
        limit = _int_arg("limit", 50, 1, 1000)
        g["crashes"] = store.crashes(group_id, limit=limit)
        g["histogram"] = store.histogram(group_id)
        return jsonify(g)

    @api.route(f"{API}/crashes/<int:crash_id>")
    @auth.require("read")
    def crash(crash_id: int) -> Any:
        c = store.crash(crash_id)
        if c is None:
            return _error(404, f"no crash {crash_id}")
        c["download_url"] = url_for("api.download", crash_id=crash_id, _external=True)
        return jsonify(c)

    @api.route(f"{API}/crashes/<int:crash_id>/download")
    @auth.require("read")
    def download(crash_id: int) -> Any:
        row = store.crash(crash_id)
        data = store.blob(crash_id)
        if row is None or data is None:
            return _error(404, f"no crash {crash_id}")
        resp = Response(data, mimetype="application/octet-stream")
        resp.headers["Content-Disposition"] = f'attachment; filename="{row["filename"]}"'
        return resp

    @api.route("/healthz")
    def healthz() -> Any:
        try:
            version = store.schema_version()
        except Exception as e:  # the database is down: say so, with a status a balancer reads
            return _error(503, f"database unavailable: {e}")
        return jsonify(ok=True, database=store.dialect, schema=version)

    @api.app_errorhandler(404)
    def _not_found(e: Any) -> Any:
        if request.path.startswith(API) or request.path == "/submit":
            return _error(404, f"no such endpoint: {request.method} {request.path}")
        return e

    @api.app_errorhandler(405)
    def _not_allowed(e: Any) -> Any:
        if request.path.startswith(API) or request.path == "/submit":
            return _error(405, f"{request.method} is not allowed on {request.path}")
        return e

    app.register_blueprint(api)
    try:
        from .web import blueprint  # the UI helper's module; absent: API only
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.web":  # web.py exists but something it imports does not
            raise
    else:
        app.register_blueprint(blueprint)
    return app
