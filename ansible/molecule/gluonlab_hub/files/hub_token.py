#!/usr/bin/env python3
"""Log in to JupyterHub like a browser (login form, _xsrf cookie, session cookies) and print a
new API token for the user. Used by verify.yml: Ansible's uri module drops all but one of the
Set-Cookie headers of a 302, and the hub needs them all.

Usage: HUB_PASSWORD=... hub_token.py <hub url> <user>"""
import http.cookiejar
import json
import os
import sys
import urllib.parse
import urllib.request


def main() -> int:
    url, user = sys.argv[1].rstrip("/"), sys.argv[2]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{url}/hub/login", timeout=30).read()

    def xsrf() -> str:
        return next((c.value for c in jar if c.name == "_xsrf"), "")

    form = urllib.parse.urlencode({"username": user, "password": os.environ["HUB_PASSWORD"], "_xsrf": xsrf()})
    opener.open(urllib.request.Request(f"{url}/hub/login?next=", data=form.encode()), timeout=30).read()
    if not any(c.name == "jupyterhub-hub-login" for c in jar):
        print(f"login as {user} was refused", file=sys.stderr)
        return 1
    body = json.dumps({"note": "molecule-verify", "expires_in": 900}).encode()
    request = urllib.request.Request(f"{url}/hub/api/users/{user}/tokens", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-XSRFToken": xsrf()})
    print(json.loads(opener.open(request, timeout=30).read())["token"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
