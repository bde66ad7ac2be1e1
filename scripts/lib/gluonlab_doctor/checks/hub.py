"""hub (the network check, with --hub-url): JupyterHub answers at <url>/hub/api/."""
import json
import socket
import ssl
import urllib.error
import urllib.request

from ..registry import check


@check("hub", group="hub", help="(with --hub-url) JupyterHub answers at <url>/hub/api/")
def hub(ctx):
    t = ctx.t
    url = ctx.args.hub_url.rstrip("/")
    api = url + "/hub/api/"
    try:
        with urllib.request.urlopen(api, timeout=ctx.args.timeout, context=ssl.create_default_context()) as resp:
            body = resp.read(65536).decode("utf-8", "replace")
        version = json.loads(body).get("version")
        if not version:
            raise ValueError("no version")
    except urllib.error.HTTPError as e:
        return ctx.fail("%s -> HTTP %d" % (api, e.code), t("hub.http.symptom"), t("hub.http.diagnosis"),
                        [t("cmd.compose.ps"), t("cmd.compose.logs")])
    except (ValueError, AttributeError):
        return ctx.fail(t("hub.not_hub.found", api=api), None, t("hub.not_hub.diagnosis"), [t("hub.not_hub.remedy")])
    except (urllib.error.URLError, socket.timeout, OSError) as e:
        reason = getattr(e, "reason", e)
        text = str(reason)
        if isinstance(reason, ssl.SSLError) or "CERTIFICATE" in text.upper():
            diag, rem = t("hub.tls.diagnosis"), [t("hub.tls.remedy")]
        else:
            diag = t("hub.down.diagnosis")
            rem = [t("cmd.compose.ps"), t("cmd.compose.logs"), t("hub.down.remedy.tunnel")]
        return ctx.fail("%s: %s" % (api, text), t("hub.down.symptom"), diag, rem)
    return ctx.passed(t("hub.ok.found", version=version, url=url))
