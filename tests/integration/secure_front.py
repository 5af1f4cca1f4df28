"""The secured front (`deploy/secure_front`) of the test's own, on a free port in front of the test Elasticsearch:
a private CA, one API key, one user and password; every test of a secured cluster runs through it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.seeding import free_port
from deploy.secure_front import material
from deploy.secure_front.material import Material

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SecureFront:
    url: str
    material: Material
    log: Path

    @property
    def secrets(self) -> list[str]:
        """What must never be printed: the API key (and the secret half inside it) and the password."""
        key_secret = base64.b64decode(self.material.api_key).decode().partition(":")[2]
        return [self.material.api_key, key_secret, self.material.password]


async def _accepts_tls(port: int, trust: ssl.SSLContext) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trust)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def secure_front(es_url: str, directory: Path) -> AsyncIterator[SecureFront]:
    """Serves the front until the block ends; the certificate material is made in `directory`."""
    made = material.make(directory / "material")
    port = free_port()
    log = directory / "secure-front.log"
    upstream = es_url.split(",")[0].strip()
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "deploy.secure_front",
            "serve",
            str(made.directory),
            "--upstream",
            upstream,
            "--port",
            str(port),
            cwd=ROOT,
            stdout=output,
            stderr=output,
        )
    try:
        trust = ssl.create_default_context(cafile=str(made.ca_certs))
        async with asyncio.timeout(60):  # a bound, not a guess: it listens within a second or two
            while not await _accepts_tls(port, trust):
                if process.returncode is not None:
                    raise RuntimeError(f"the secured front exited at start: {log.read_text()}")
                await asyncio.sleep(0.05)
        yield SecureFront(f"https://127.0.0.1:{port}", made, log)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
