"""The Host names the demo answers: its guard against DNS rebinding.

A page on another site can have its own name (rebind.example.com) resolve to 127.0.0.1 and
then read the local demo's answers, which hold real training faces: the browser believes it
talks to that site and sends that name as the Host. So the demo answers only the names it is
reached by (Starlette's ``TrustedHostMiddleware`` checks them; any other Host gets 400
"Invalid host header"): localhost's names, the ``--host`` address, and with a wildcard
``--host`` (0.0.0.0, ::) the machine's own names and addresses; ``--allow-host`` adds more
(a name of the local DNS, a reverse proxy's). The port is not part of the check.
"""
from __future__ import annotations

import socket

LOCAL = ("localhost", "127.0.0.1", "[::1]")
WILDCARDS = ("", "0.0.0.0", "::")


def host_form(name: str) -> str:
    """A name or address as a Host header carries it: lower case, IPv6 in brackets."""
    name = name.strip().lower()
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def machine_names() -> set[str]:
    """This machine's names and interface addresses (what others on the network type)."""
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        import psutil       # installed by `make setup` (dvc needs it); not a requirement of the demo

        names |= {a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs
                  if a.family in (socket.AF_INET, socket.AF_INET6)}
    except ImportError:
        try:
            names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            pass
    return names


def allowed_hosts(host: str, extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The Host names a demo listening on ``host`` answers, sorted."""
    names = set(LOCAL) | {host_form(h) for h in extra if h.strip()}
    names |= {host_form(h) for h in machine_names()} if host.strip() in WILDCARDS else {host_form(host)}
    return sorted(names)
