"""An embedded NATS started with the deployment's config does not need the config's fixed monitoring
port (8222): a machine where it is taken (another NATS, another `hermes up`) still starts it."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from hermes import embedded, permissions


def test_an_embedded_nats_with_the_deployment_config_starts_while_8222_is_taken(tmp_path: Path) -> None:
    holder = socket.socket()
    with contextlib.suppress(OSError):  # already held by something else: just as good for this test
        holder.bind(("127.0.0.1", 8222))
        holder.listen()
    try:
        conf = permissions.write_nats_config(tmp_path / "nats.conf",
                                             {user: "p" * 24 for user in permissions.nats_table()})
        assert "http_port: 8222" in conf.read_text()
        server = embedded.start_nats(tmp_path / "data", config_file=conf)
        try:
            with socket.create_connection((server.host, server.port), timeout=5):
                pass
        finally:
            server.stop()
    finally:
        holder.close()
