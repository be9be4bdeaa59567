"""A local ingress for the shipping tests: an HTTP server in a thread on 127.0.0.1."""

from __future__ import annotations

import email.parser
import email.policy
import io
import socket
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Upload:
    path: str
    headers: dict[str, str]
    filename: str
    content_type: str
    data: bytes

    def members(self) -> dict[str, bytes]:
        with tarfile.open(fileobj=io.BytesIO(self.data), mode="r:gz") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


class Ingress:
    """Records every upload; ``respond(filename, attempt)`` picks the status (202 by default)."""

    def __init__(self) -> None:
        self.uploads: list[Upload] = []
        self.attempts: dict[str, int] = {}
        self.respond: Callable[[str, int], int] = lambda filename, attempt: 202
        ingress = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
                )
                part = next(iter(message.iter_parts()))
                filename = part.get_filename()
                attempt = ingress.attempts.get(filename, 0) + 1
                ingress.attempts[filename] = attempt
                status = ingress.respond(filename, attempt)
                if 200 <= status < 300:
                    ingress.uploads.append(
                        Upload(
                            self.path,
                            dict(self.headers),
                            filename,
                            part.get_content_type(),
                            part.get_payload(decode=True),
                        )
                    )
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"accepted" if status < 300 else b"ingress is down")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/ingress/upload"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Ingress:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A URL nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/upload"
