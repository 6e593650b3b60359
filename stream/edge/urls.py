"""Where phones can reach the server: LAN address discovery, the URLs and a terminal QR code,
the origin that room links use (`PhoneOrigin`) and the `serve --public-url` check."""

from __future__ import annotations

import io
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

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


def is_loopback_host(host: str) -> bool:
    """True for names that mean "this machine" (localhost, 127.x, ::1, 0.0.0.0): a link with one
    of them opens on the server itself, never on a phone."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def phone_hosts(listen_host: str, lan: list[str] | None = None) -> list[str]:
    """The addresses phones on the network can reach the server at, best first: every LAN
    address when it listens on all interfaces, the one address it listens on, none for a
    loopback address (phones cannot reach it at all)."""
    if listen_host in _ANY:
        return list(lan if lan is not None else lan_addresses())
    return [] if is_loopback_host(listen_host) else [listen_host]


def parse_public_url(text: str) -> str:
    """`serve --public-url`: the address phones open, e.g. a DNS name or a proxy in front of the
    server, as "scheme://host[:port]". ValueError says what is wrong: not http(s), no host,
    credentials, a path, query or fragment (the pages live at the root), a bad port, or a
    loopback host (a phone would open itself)."""
    text = text.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"--public-url {text!r}: give one URL without spaces")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"--public-url {text}: must start with https:// (or http://)")
    if not parts.hostname:
        raise ValueError(f"--public-url {text}: names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"--public-url {text}: leave out the user name and password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"--public-url {text}: give the address only (like https://va.school.org), "
            "without a path, ? or #: the pages live at the root"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"--public-url {text}: the port must lie in 0..65535") from exc
    if is_loopback_host(parts.hostname):
        raise ValueError(
            f"--public-url {text}: phones cannot open {parts.hostname} (it means the phone "
            "itself); give the address phones use"
        )
    port_text = f":{port}" if port is not None else ""
    return f"{parts.scheme.lower()}://{_bracket(parts.hostname)}{port_text}"


@dataclass(frozen=True)
class PhoneOrigin:
    """Where room join links and their QR codes point: an origin phones can open.

    public_url  `serve --public-url` (already checked by `parse_public_url`); wins when set
    lan_hosts   the server's addresses on the network (`phone_hosts`), best first
    """

    public_url: str | None = None
    lan_hosts: tuple[str, ...] = ()

    def origin(self, scheme: str, host: str, port: int | None) -> str:
        """The origin for a request that reached the server as scheme://host:port. A host that
        is not loopback is kept (the teacher reached the server over the network, so phones on
        it can too); localhost gives way to the first LAN address on the same port, since a
        phone cannot open the teacher's "localhost"; with no LAN address that is all there is."""
        if self.public_url:
            return self.public_url
        if is_loopback_host(host) and self.lan_hosts:
            host = self.lan_hosts[0]
        port_text = f":{port}" if port is not None else ""
        return f"{scheme}://{_bracket(host.strip('[]'))}{port_text}"


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


def banner(
    urls: list[str],
    https: bool,
    *,
    public_url: str | None = None,
    random_weights: bool = False,
    cli: str = "visionanything",
) -> str:
    """What `serve` prints once it listens: the URLs, and a QR code of the address phones use
    (the public URL, else the first LAN one) when that page can open the camera. Phones allow
    the camera on https:// pages only, so for plain HTTP it says so instead of a QR code that
    would open a page without a camera. With random weights it says how to get the real ones."""
    lines = ["", "VisionAnything Live is listening:"]
    lines += [f"  {url}" for url in urls]
    if public_url:
        lines.append(f"  phones and room links: {public_url}/")
    lan = [u for u in urls if not is_loopback_host(urlsplit(u).hostname or "")]
    if https:
        lines.append(
            "  (self-signed certificate: the phone asks once to trust it - "
            "choose 'Advanced' then 'Proceed')"
        )
    if urls:
        lines.append(f"  teachers: {urls[0].rstrip('/')}/teacher (rooms for a class screen)")
    phone = f"{public_url}/" if public_url else (lan[0] if lan else None)
    if phone and phone.startswith("https://"):
        where = "a phone" if public_url else "a phone on the same network"
        lines += ["", f"Scan to open {phone} on {where}:", qr_code(phone)]
    elif phone:
        fix = (
            "Give an https:// --public-url."
            if public_url
            else "Start without --http (a self-signed certificate is made) or give --cert and "
            "--key."
        )
        lines += [
            "",
            f"Phones need HTTPS for the camera: {phone} opens on a phone, but the camera stays "
            "off, so there is no QR code.",
            f"  {fix}",
        ]
    elif not https:
        lines.append(
            "  (plain HTTP: phones allow the camera only on localhost; drop --http for LAN)"
        )
    if random_weights:
        lines += [
            "",
            "DEMO MODE: random weights. The models are not loaded, so the names are made up",
            "(every page says so). For the real models: `make weights` (or "
            f"`{cli} weights fetch`), then start again.",
        ]
    return "\n".join(lines)


def _bracket(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
