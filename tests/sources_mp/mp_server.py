"""A local HTTP server that speaks the Materials Project API protocol, for tests.

It answers what the real ``mp_api.client.MPRester`` asks of the summary endpoint: ``GET /heartbeat`` and
``GET /materials/summary/`` with ``_limit`` / ``_skip`` / ``_fields`` / ``_sort_fields`` pagination, the filters
this project uses (elements, chemsys, band gap, energy above hull, number of sites, deprecated, ...) and
``{"data": [...], "meta": {"total_doc": N}}`` answers. It checks the ``x-api-key`` header (401 for a missing
key, 403 for a wrong one) and rejects query parameters it does not know with 400, so a client that sends
something the real API would not understand fails loudly here too.

Faults are injected per page (page = ``_skip // _limit + 1``), each one consumed by one request::

    server.add_faults(3, "429", "500")      # page 3: first a 429 (Retry-After), then a 500, then the data
    server.add_faults(4, "drop")            # page 4: the connection is closed without an answer

Fault kinds: ``"429"`` (with ``Retry-After``), ``"500"``, ``"502"``, ``"503"`` (with ``Retry-After``),
``"504"``, ``"drop"`` (connection closed without a response), ``"malformed"`` (HTTP 200 with truncated JSON),
``"no_meta"`` (HTTP 200 without ``meta.total_doc``), ``"slow"`` (answers after ``slow_s`` seconds) and
``"stall"`` (blocks until :meth:`MPTestServer.release` or shutdown: lets a test kill the client mid-request).

Without ``_sort_fields`` the server returns documents in an order that changes from request to request, as a
sharded database may: a pager that does not ask for a stable sort loses and repeats documents.

Other tests (flows) may reuse it: ``with MPTestServer(make_docs(50), api_key=KEY) as srv: ... srv.url``.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = ("429", "500", "502", "503", "504", "drop", "malformed", "no_meta", "slow", "stall")

# Query parameters the real summary endpoint understands and this server implements.
_RANGE_FIELDS = (
    "band_gap",
    "energy_above_hull",
    "nsites",
    "formation_energy_per_atom",
    "density",
    "k_vrh",
    "g_vrh",
    "nelements",
)
_PAGING = {"_limit", "_skip", "_fields", "_sort_fields", "_all_fields", "_page", "_per_page"}
_KNOWN = (
    _PAGING
    | {f"{f}_{e}" for f in _RANGE_FIELDS for e in ("min", "max")}
    | {"elements", "exclude_elements", "chemsys", "formula", "material_ids", "deprecated", "has_props"}
)


# --------------------------------------------------------------------------------------------- documents
def make_docs(n: int, *, seed: int = 0, start_id: int = 1, id_step: int = 7) -> list[dict[str, Any]]:
    """Synthetic summary documents with real pymatgen structures.

    Parameters
    ----------
    n
        Number of documents.
    seed
        Seed for the random properties and decorations.
    start_id, id_step
        Material ids are ``mp-{start_id + k * id_step}`` (gaps and multi-digit ids exercise sorting).

    Returns
    -------
    list of dict
        Documents with the summary fields this project asks for (structure as ``Structure.as_dict()``).
    """
    from pymatgen.core import Lattice, Structure

    rng = random.Random(seed)
    cations = ["Li", "Na", "K", "Mg", "Ca", "Sr", "Ba", "Fe", "Co", "Ni", "Zn", "Ti", "Al"]
    anions = ["O", "S", "Se", "F", "Cl", "N"]
    docs = []
    for k in range(n):
        kind = k % 3
        a_el, x_el = rng.choice(cations), rng.choice(anions)
        a = rng.uniform(3.6, 6.2)
        if kind == 0:  # rocksalt, conventional cell
            fcc = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
            s = Structure(
                Lattice.cubic(a),
                [a_el] * 4 + [x_el] * 4,
                fcc + [[(x + 0.5) % 1, y, z] for x, y, z in fcc],
            )
        elif kind == 1:  # CsCl type
            s = Structure(Lattice.cubic(a * 0.6), [a_el, x_el], [[0, 0, 0], [0.5, 0.5, 0.5]])
        else:  # cubic perovskite ABX3
            b_el = rng.choice([c for c in cations if c != a_el])
            s = Structure(
                Lattice.cubic(a * 0.7),
                [a_el, b_el, x_el, x_el, x_el],
                [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
            )
        elements = sorted({el.symbol for el in s.composition.elements})
        has_elastic = rng.random() < 0.5
        k_vrh = rng.uniform(20, 250)
        g_vrh = rng.uniform(10, 0.9 * k_vrh)
        docs.append(
            {
                "material_id": f"mp-{start_id + k * id_step}",
                "structure": s.as_dict(),
                "formula_pretty": s.composition.reduced_formula,
                "nsites": len(s),
                "nelements": len(elements),
                "elements": elements,
                "chemsys": "-".join(elements),
                "energy_above_hull": round(rng.choice([0.0, rng.uniform(0, 0.4)]), 4),
                "band_gap": round(rng.choice([0.0, rng.uniform(0, 6)]), 4),
                "formation_energy_per_atom": round(rng.uniform(-3.5, 0.2), 4),
                "density": round(float(s.density), 5),
                "deprecated": rng.random() < 0.05,
                "bulk_modulus": (
                    {"voigt": k_vrh * 1.02, "reuss": k_vrh * 0.98, "vrh": k_vrh} if has_elastic else None
                ),
                "shear_modulus": (
                    {"voigt": g_vrh * 1.05, "reuss": g_vrh * 0.95, "vrh": g_vrh} if has_elastic else None
                ),
            }
        )
    return docs


def _id_key(material_id: str) -> tuple[str, int, str]:
    prefix, _, num = material_id.partition("-")
    return (prefix, int(num), material_id) if num.isdigit() else (prefix, -1, material_id)


# --------------------------------------------------------------------------------------------- filtering
def _as_bool(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


def _matches(doc: dict[str, Any], params: dict[str, str]) -> bool:
    for name, value in params.items():
        if name in _PAGING:
            continue
        if name.endswith(("_min", "_max")):
            field, bound = name[:-4], name[-3:]
            x = doc.get(field)
            if field in ("k_vrh", "g_vrh"):
                modulus = doc.get("bulk_modulus" if field == "k_vrh" else "shear_modulus")
                x = modulus.get("vrh") if modulus else None
            if x is None:
                return False
            if bound == "min" and x < float(value):
                return False
            if bound == "max" and x > float(value):
                return False
        elif name == "elements":
            if not set(value.split(",")) <= set(doc["elements"]):
                return False
        elif name == "exclude_elements":
            if set(value.split(",")) & set(doc["elements"]):
                return False
        elif name == "chemsys":
            wanted = {"-".join(sorted(c.split("-"))) for c in value.split(",")}
            if doc["chemsys"] not in wanted:
                return False
        elif name == "formula":
            if doc["formula_pretty"] not in value.split(","):
                return False
        elif name == "material_ids":
            if doc["material_id"] not in value.split(","):
                return False
        elif name == "deprecated":
            if bool(doc.get("deprecated", False)) != _as_bool(value):
                return False
        elif name == "has_props":
            for prop in value.split(","):
                if prop == "elasticity" and not doc.get("bulk_modulus"):
                    return False
    return True


# --------------------------------------------------------------------------------------------- server
class MPTestServer:
    """A threaded local Materials Project API server (use as a context manager).

    Parameters
    ----------
    docs
        The database: summary documents (see :func:`make_docs`).
    api_key
        The one key accepted (compared with the ``x-api-key`` header).
    db_version
        What ``/heartbeat`` reports.
    retry_after
        ``Retry-After`` seconds sent with 429 and 503 answers.
    slow_s
        Delay of a ``"slow"`` fault.
    unstable_unsorted
        Shuffle the order of unsorted queries per request (as a sharded database may).
    """

    def __init__(
        self,
        docs: Iterable[dict[str, Any]],
        *,
        api_key: str,
        db_version: str = "2026.01.01",
        retry_after: int | str = 0,
        slow_s: float = 2.0,
        unstable_unsorted: bool = True,
    ) -> None:
        self.api_key = api_key
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.unstable_unsorted = unstable_unsorted
        self.bad_key_status = 403  # what a wrong key gets (a missing key always gets 401)
        self._lock = threading.Lock()
        self._docs = list(docs)
        self._db_version = db_version
        self._faults: dict[int, list[str]] = defaultdict(list)
        self._release = threading.Event()
        self.stalled = threading.Event()
        self.log: list[dict[str, Any]] = []  # one entry per request: path, params, status, fault, page
        self.on_summary_page: Any = None  # optional callable(page, params) run before answering
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control
    @property
    def url(self) -> str:
        """The endpoint to give ``MPRester(endpoint=...)``."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def db_version(self) -> str:
        return self._db_version

    def set_database(self, docs: Iterable[dict[str, Any]] | None = None, *, db_version: str) -> None:
        """Switch to a new database release (new version, optionally new documents)."""
        with self._lock:
            if docs is not None:
                self._docs = list(docs)
            self._db_version = db_version

    def add_faults(self, page: int, *kinds: str) -> None:
        """Queue faults for ``page`` (1-based); each is used by one request, in order."""
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; choose from {FAULT_KINDS}")
        with self._lock:
            self._faults[page].extend(kinds)

    def release(self) -> None:
        """Let stalled requests go on (they then answer normally)."""
        self._release.set()

    def summary_requests(self, page: int | None = None) -> list[dict[str, Any]]:
        """Logged summary requests (optionally those for one page)."""
        return [
            e for e in self.log if e["path"] == "/materials/summary/" and (page is None or e["page"] == page)
        ]

    def matching_ids(self, params: dict[str, str]) -> list[str]:
        """Ids of the documents a query matches, in material-id order."""
        with self._lock:
            docs = list(self._docs)
        return sorted((d["material_id"] for d in docs if _matches(d, params)), key=_id_key)

    def start(self) -> MPTestServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="mp-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> MPTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling (called by the handler thread)
    def _take_fault(self, page: int) -> str | None:
        with self._lock:
            queue = self._faults.get(page)
            return queue.pop(0) if queue else None

    def _summary(
        self, params: dict[str, str], entry: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes | None, str | None, int]:
        unknown = sorted(set(params) - _KNOWN)
        if unknown:
            body = {"detail": f"unknown query parameters: {', '.join(unknown)}"}
            return 400, {}, json.dumps(body).encode(), None, 0
        try:
            limit = int(params.get("_limit", params.get("_per_page", "100")))
            skip = int(params.get("_skip", "0"))
            if "_page" in params:
                skip = (int(params["_page"]) - 1) * limit
        except ValueError:
            return 422, {}, json.dumps({"detail": "bad _limit/_skip"}).encode(), None, 0
        if limit < 1 or skip < 0:
            return 422, {}, json.dumps({"detail": "bad _limit/_skip"}).encode(), None, 0
        page = skip // limit + 1
        if self.on_summary_page is not None:
            self.on_summary_page(page, params)
        fault = self._take_fault(page)
        entry.update(page=page, fault=fault)  # logged before any stall, so tests see it at once
        if fault in ("429", "503"):
            body = json.dumps({"detail": "slow down" if fault == "429" else "service unavailable"}).encode()
            return int(fault), {"Retry-After": str(self.retry_after)}, body, fault, page
        if fault in ("500", "502", "504"):
            return int(fault), {}, json.dumps({"detail": "internal error"}).encode(), fault, page
        if fault == "drop":
            return 0, {}, None, fault, page
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "stall":
            self.stalled.set()
            self._release.wait()

        with self._lock:
            docs = [d for d in self._docs if _matches(d, params)]
            seed = len(self.log)
        sort = params.get("_sort_fields")
        if sort:
            for key in reversed(sort.split(",")):
                desc = key.startswith("-")
                name = key.lstrip("+-")
                if name == "material_id":
                    docs.sort(key=lambda d: _id_key(d["material_id"]), reverse=desc)
                else:
                    docs.sort(key=lambda d, n=name: (d.get(n) is None, d.get(n)), reverse=desc)
        elif self.unstable_unsorted:
            random.Random(seed).shuffle(docs)
        fields = params.get("_fields")
        chunk = docs[skip : skip + limit]
        if fields:
            names = fields.split(",")
            chunk = [{n: d.get(n) for n in names} for d in chunk]
        payload: dict[str, Any] = {"data": chunk, "meta": {"total_doc": len(docs), "max_limit": 1000}}
        if fault == "no_meta":
            payload.pop("meta")
        body = json.dumps(payload).encode()
        if fault == "malformed":
            body = body[: max(1, len(body) // 2)]
        return 200, {}, body, fault, page


def _make_handler(server: MPTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # silence stderr
            return

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            path = parts.path if parts.path.endswith("/") or parts.path == "/heartbeat" else parts.path + "/"
            entry: dict[str, Any] = {
                "path": path,
                "params": params,
                "status": None,
                "fault": None,
                "page": None,
            }
            server.log.append(entry)
            if path in ("/heartbeat", "/heartbeat/"):
                body = {
                    "db_version": server.db_version,
                    "access_controlled_batch_ids": [],
                    "version": "0.87.3",
                }
                entry["status"] = 200
                self._send(200, json.dumps(body).encode())
                return
            if path != "/materials/summary/":
                entry["status"] = 404
                self._send(404, json.dumps({"detail": "Not Found"}).encode())
                return
            key = self.headers.get("x-api-key")
            if not key:
                entry["status"] = 401
                self._send(401, json.dumps({"detail": "API key required"}).encode())
                return
            if key != server.api_key:
                entry["status"] = server.bad_key_status
                self._send(server.bad_key_status, json.dumps({"detail": "Invalid API key"}).encode())
                return
            status, headers, body, fault, page = server._summary(params, entry)
            entry.update(status=status, fault=fault, page=page)
            if fault == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            assert body is not None
            self._send(status, body, headers)

    return Handler
