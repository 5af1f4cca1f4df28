"""A stack of the test's own (`deploy/local/stack` in a temporary dir, on free ports): for tests that stop, kill or
block a service, which must never touch the shared one."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local" / "stack"


def run_stack(environment: dict[str, str], command: str, *names: str) -> str:
    """`stack <command> [names]`; its stdout (the export lines of `up`). A failed `up` raises with its stderr."""
    done = subprocess.run(
        [str(STACK), command, *names], env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0 and command == "up":
        raise RuntimeError(f"stack up failed: {done.stderr[-2000:]}")
    return done.stdout


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports on 127.0.0.1 that nothing listens on now (fixed ones collide with the stacks
    of other runs on the same machine)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def free_port_range(count: int) -> int:
    """The first of `count` consecutive ports that are free now (a cluster's nodes take ES_PORT, ES_PORT+1, ...)."""
    for _ in range(200):
        first = free_ports(1)[0]
        if first + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in range(first, first + count):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports found")


@dataclass(frozen=True)
class OwnStack:
    es_url: str
    mongo_url: str
    environment: dict[str, str]
    directory: Path

    @property
    def es_nodes(self) -> list[str]:
        return self.es_url.split(",")

    def stop(self, *names: str) -> None:
        run_stack(self.environment, "down", *names)

    def start(self) -> None:
        """Starts whatever of the stack is not running (a killed node, a stopped server) and waits until it is."""
        run_stack(self.environment, "up")

    def kill_9(self, name: str) -> None:
        """SIGKILL the whole process group of service `name` (an Elasticsearch node is a launcher and a server JVM)."""
        pid = int((self.directory / "run" / f"{name}.pid").read_text().split()[0])
        os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def own_stack(nodes: int = 1, **environment: str) -> Iterator[OwnStack]:
    """A stack with `nodes` Elasticsearch nodes, from the same cached downloads; stopped and removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="contact-search-own-stack-"))
    directory.chmod(0o755)  # the services run as another user when the tests run as root
    # One block of free ports for everything, so no two services of this stack are handed the same one.
    first = free_port_range(2 * nodes + 2)
    settings = {
        **os.environ,
        "ES_NODES": str(nodes),
        "ES_PORT": str(first),
        "ES_TRANSPORT_PORT": str(first + nodes),
        "MONGO_PORT": str(first + 2 * nodes),
        "MONGO_STREAM_PORT": str(first + 2 * nodes + 1),
        "CONTACT_SEARCH_STACK_DIR": str(directory),
        "ES_START_TIMEOUT": "600",
        **environment,
    }
    try:
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in run_stack(settings, "up").splitlines()
            if line.startswith("export ")
        )
        yield OwnStack(exports["ES_URL"].strip("'\""), exports["MONGO_URL"].strip("'\""), settings, directory)
    finally:
        run_stack(settings, "down")
        shutil.rmtree(directory, ignore_errors=True)
