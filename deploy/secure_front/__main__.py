"""python -m deploy.secure_front init DIR     make the CA, certificates and credentials in DIR (once)
python -m deploy.secure_front serve DIR --upstream http://127.0.0.1:9200 --port 9243
                                         serve the TLS front until SIGTERM
"""

from __future__ import annotations

import argparse
import ssl
import sys
from pathlib import Path

from aiohttp import web

from deploy.secure_front import material, proxy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.secure_front", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="make the CA, certificates and credentials")
    init.add_argument("directory", type=Path)
    serve = commands.add_parser("serve", help="serve the TLS front")
    serve.add_argument("directory", type=Path)
    serve.add_argument("--upstream", default="http://127.0.0.1:9200")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9243)
    args = parser.parse_args(argv)
    made = material.make(args.directory)
    if args.command == "init":
        return 0
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(made.server_certificate, made.server_key)
    app = proxy.create_app(args.upstream, made.api_key, (made.username, made.password))
    web.run_app(app, host=args.host, port=args.port, ssl_context=tls, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
