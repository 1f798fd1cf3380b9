"""The btengine crash server (docs/server.md): ingest snapshots and minidumps over HTTP, analyse,
group by fingerprint, rank by risk, show them in a browser.

Modules: config (ServerConfig), store (SQLite / PostgreSQL Store), ranking (the risk score),
ingest (validate + analyse an upload), auth (tokens), app (create_app: the HTTP API), web (the
UI blueprint), reprocess (re-analyse a stored corpus on Dask). Flask, gunicorn, psycopg and dask
are the `server` extra: `pip install btengine[server]`.
"""
