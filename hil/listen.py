"""A simulated PLC's port checked before its server binds it.

Neither protocol library says why a listen failed: snap7 binds with SO_REUSEPORT, so a
second server on a port in use binds silently and the two share the connections; pymodbus
logs the socket error and raises "Could not start listen, please check address." A plain
bind (SO_REUSEADDR only, which tolerates our own old connections in TIME_WAIT but no
listener) finds the clash first and names the port, so a bench whose port is taken is
refused in one line, not a traceback.
"""

from __future__ import annotations

import errno
import socket


def check_port_free(host: str, port: int, what: str) -> None:
    """Raise ``OSError`` naming ``what`` and the port if nothing may listen there now."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        raise OSError(f"{what}: cannot listen on {host}:{port}: {e.strerror}") from None
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise OSError(errno.EADDRINUSE, f"{what}: port {port} on {host} is already "
                          "in use (another server listens there); give each simulated "
                          "PLC its own port") from None
        raise OSError(e.errno, f"{what}: cannot listen on {host}:{port}: "
                      f"{e.strerror}") from None
    finally:
        probe.close()
