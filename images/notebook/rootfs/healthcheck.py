#!/usr/bin/env python3
"""Docker HEALTHCHECK: the Jupyter server answers its unauthenticated /api endpoint.

Under JupyterHub the server lives below JUPYTERHUB_SERVICE_PREFIX (/user/<name>/); standalone
it is at /. Exit 0 healthy, 1 unhealthy (Docker's convention).
"""
import os
import sys
import urllib.request

prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
port = os.environ.get("JUPYTER_PORT", "8888")
url = f"http://127.0.0.1:{port}{prefix.rstrip('/')}/api"
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as error:
    print(f"unhealthy: {url}: {error}", file=sys.stderr)
    sys.exit(1)
