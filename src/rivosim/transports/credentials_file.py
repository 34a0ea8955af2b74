"""``rivosim serve --credentials-json FILE``: what a CI script needs of a started server, as one JSON file.

``{"url", "control_token"?, "shops": [credentials of each shop the server started with]}`` (a shop's credentials
as ``GET /_rivosim/shops`` lists them: domain, plan, Rivo API key, webhook secret, Shopify tokens). The file
appears only once the server accepts connections, all at once (written to a temporary file beside it, then
renamed over it), readable by its owner alone (mode 0600: it holds keys). Any file of that name is removed when
the server starts, so a script waiting for it never reads an earlier run's, and again when it stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rivosim.engine import Simulator

__all__ = ["credentials_document", "remove_credentials_file", "write_credentials_file", "write_private_json"]


def credentials_document(url: str, control_token: str | None, sim: Simulator) -> dict[str, Any]:
    doc: dict[str, Any] = {"url": url}
    if control_token:
        doc["control_token"] = control_token
    doc["shops"] = [shop.credentials_dict() for shop in sim.shops.values()]
    return doc


def write_private_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``value`` to ``path`` atomically (temp file + rename), mode 0600."""
    target = Path(path)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def remove_credentials_file(path: str | os.PathLike[str] | None) -> None:
    """Remove the file if there is one (no path: nothing to do)."""
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def write_credentials_file(path: str | os.PathLike[str] | None, url: str, control_token: str | None,
                           sim: Simulator) -> None:
    """Write the server's credentials document to ``path`` (no path: nothing to do)."""
    if not path:
        return
    with sim.lock:  # the shops as they are (a client may already be creating more)
        doc = credentials_document(url, control_token, sim)
    write_private_json(path, doc)
