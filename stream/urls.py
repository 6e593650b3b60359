"""Where phones can reach the server: LAN address discovery, the URLs and a terminal QR code."""

from __future__ import annotations

import io
import ipaddress
import socket

import qrcode  # type: ignore[import-untyped]  # qrcode 8 ships no type hints

# Addresses we "connect" a UDP socket to, only to learn which local address the OS would use to
# reach them; connect() on UDP sends no packet, so this works offline and behind firewalls.
_PROBES = ("10.255.255.255", "192.168.255.255", "172.31.255.255", "8.8.8.8")
_ANY = ("", "0.0.0.0", "::")


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that other devices on the network can use, best first.

    Loopback and link-local (169.254/16) addresses are left out; an empty list means none was
    found (no network, or a sandbox).
    """
    found: list[str] = []
    for probe in _PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((probe, 9))
                found.append(sock.getsockname()[0])
            except OSError:
                continue
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        found.extend(str(info[4][0]) for info in infos)
    except OSError:
        pass
    usable: list[str] = []
    for address in found:
        ip = ipaddress.ip_address(address)
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or address in usable:
            continue
        usable.append(address)
    # private addresses first: those are what a phone on the same Wi-Fi can reach
    return sorted(usable, key=lambda a: not ipaddress.ip_address(a).is_private)


def server_urls(host: str, port: int, https: bool, lan: list[str] | None = None) -> list[str]:
    """URLs to open the page: localhost and each LAN address when listening on all interfaces,
    else the one address given."""
    scheme = "https" if https else "http"
    if host in _ANY:
        hosts = ["localhost", *(lan if lan is not None else lan_addresses())]
    else:
        hosts = [host]
    return [f"{scheme}://{_bracket(h)}:{port}/" for h in hosts]


def certificate_hosts(host: str, lan: list[str] | None = None) -> list[str]:
    """Names the certificate must cover when serving on `host`."""
    names = ["localhost", "127.0.0.1"]
    if host in _ANY:
        names.extend(lan if lan is not None else lan_addresses())
    elif host not in names:
        names.append(host)
    return names


def qr_code(text: str) -> str:
    """`text` as a QR code drawn with block characters, for a terminal.

    Inverted (light modules on the terminal's dark background, with a light quiet zone) so
    phone cameras read it off a dark terminal.
    """
    code = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_L)
    code.add_data(text)
    code.make(fit=True)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def qr_png(text: str) -> bytes:
    """`text` as a QR code PNG (8 px modules), e.g. a room's join link for the projector."""
    image = qrcode.make(text, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def banner(urls: list[str], https: bool) -> str:
    """What `serve` prints once it listens: the URLs, and a QR code of the first LAN one."""
    lines = ["", "VisionAnything Live is listening:"]
    lines += [f"  {url}" for url in urls]
    lan = [u for u in urls if "//localhost:" not in u and "//127." not in u]
    if https:
        lines.append(
            "  (self-signed certificate: the phone asks once to trust it - "
            "choose 'Advanced' then 'Proceed')"
        )
    if urls:
        lines.append(f"  teachers: {urls[0].rstrip('/')}/teacher (rooms for a class screen)")
    if lan:
        lines += ["", f"Scan to open {lan[0]} on a phone on the same network:", qr_code(lan[0])]
    elif not https:
        lines.append(
            "  (plain HTTP: phones allow the camera only on localhost; drop --http for LAN)"
        )
    return "\n".join(lines)


def _bracket(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
