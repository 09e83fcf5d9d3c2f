"""Connections to the warehouse, and URLs safe to log.

URLs are passed to libpq unchanged, so whatever they carry (sslmode, sslrootcert, options,
several hosts, target_session_attrs, ...) is honoured.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

APPLICATION_NAME = "orderflow"
_URL_SCHEMES = ("postgresql://", "postgres://")
_MASK = "***"


def connect(url: str, **kw) -> psycopg.Connection:
    """Open a psycopg 3 connection; `kw` goes to `psycopg.connect` (autocommit=True, row_factory, ...).

    application_name is 'orderflow' unless the URL or `kw` sets one.
    """
    if "application_name" not in kw and "application_name" not in conninfo_to_dict(url):
        kw["application_name"] = APPLICATION_NAME
    return psycopg.connect(url, **kw)


def url_with_database(url: str, dbname: str) -> str:
    """The same connection URL (or key=value conninfo) pointing at another database."""
    if url.startswith(_URL_SCHEMES):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
    return make_conninfo(url, dbname=dbname)


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***, for logs and error messages. Never raises."""
    try:
        if url.startswith(_URL_SCHEMES):
            parts = urlsplit(url)
            netloc = parts.netloc
            userinfo, at, hosts = netloc.rpartition("@")
            if at and ":" in userinfo:
                user, _, password = userinfo.partition(":")
                if password:
                    netloc = f"{user}:{_MASK}@{hosts}"
            query = parts.query
            if query:
                pairs = parse_qsl(query, keep_blank_values=True)
                if any(k == "password" for k, _ in pairs):
                    query = urlencode([(k, _MASK if k == "password" else v) for k, v in pairs], safe="*/")
            return urlunsplit(parts._replace(netloc=netloc, query=query))
        # key=value conninfo: password=secret or password='se cret'
        return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", rf"\g<1>{_MASK}", url)
    except Exception:  # a malformed URL must not leak through a traceback either
        return "<unparseable database url>"
