"""scripts/tunnel.sh against a real OpenSSH server and a real HTTP server, both on 127.0.0.1.

Each test starts sshd (throwaway host key, key-only login for the current user) and a
`python3 -m http.server` that only the ssh server side is meant to reach; the tunnel must
carry a real HTTP request through.
"""
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TUNNEL = REPO / "scripts" / "tunnel.sh"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair():
    """A port p with p+1 free as well (for the 'taken port is skipped' test)."""
    for _ in range(50):
        p = free_port()
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise RuntimeError("no two adjacent free ports")


def wait_listening(port, proc, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited early: %s" % (what, proc.stdout.read() if proc.stdout else ""))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s did not listen on %d" % (what, port))


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture
def sshd(tmp_path):
    d = tmp_path / "sshd"
    d.mkdir()
    keygen(d / "host_key")
    keygen(d / "client_key")
    keygen(d / "wrong_key")
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        "Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nUsePAM no\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nAuthorizedKeysFile %s\nStrictModes no\nAllowTcpForwarding yes\n"
        "LogLevel VERBOSE\n" % (port, d / "host_key", d / "sshd.pid", d / "authorized_keys"))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_listening(port, proc, "sshd")
        yield {"port": port, "key": d / "client_key", "wrong_key": d / "wrong_key",
               "user": getpass.getuser()}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    token = "gluonlab-tunnel-%d" % os.getpid()
    (root / "index.html").write_text("<p>%s</p>\n" % token)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc, "http.server")
        yield {"port": port, "token": token}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _default_interrupt_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


class Tunnel:
    """tunnel.sh as a child process, with its stdout/stderr collected in the background."""

    def __init__(self, args):
        # As from a terminal, where Ctrl-C reaches the script: a test run started in the
        # background (CI wrappers, `cmd &`) inherits SIGINT/SIGQUIT ignored, and bash cannot trap
        # a signal that was ignored when it started.
        self.proc = subprocess.Popen(["bash", str(TUNNEL)] + [str(a) for a in args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_default_interrupt_signals)
        self.out, self.err = [], []
        self._threads = [threading.Thread(target=self._pump, args=(s, buf), daemon=True)
                         for s, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, buf):
        for line in stream:
            buf.append(line)

    def wait_for_url(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.out:
                if line.startswith("Tunnel up: open "):
                    return line.split()[3]
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("no 'Tunnel up' line; rc=%s\nstdout:%s\nstderr:%s"
                             % (self.proc.poll(), "".join(self.out), "".join(self.err)))

    def finish(self, timeout=30):
        rc = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=5)
        return rc, "".join(self.out), "".join(self.err)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def fetch_then_ctrl_c(t, url, http_server):
    """The served page comes through the tunnel; then Ctrl-C. Returns (rc, stdout, stderr)."""
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    assert http_server["token"] in body
    t.proc.send_signal(signal.SIGINT)
    return t.finish()


def base_args(sshd, key=None):
    return ["%s@127.0.0.1" % sshd["user"], "-p", sshd["port"], "-i", key or sshd["key"],
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "--batch", "--timeout", "10"]


def test_tunnel_carries_http_and_stops_on_sigint(sshd, http_server):
    lport = free_port()
    t = Tunnel(base_args(sshd) + ["-r", http_server["port"], "-l", lport, "--path", "/"])
    try:
        url = t.wait_for_url()
        assert url == "http://127.0.0.1:%d/" % lport
        rc, out, err = fetch_then_ctrl_c(t, url, http_server)
    finally:
        t.kill()
    assert rc == 0, err
    assert "stopping the tunnel" in err
    with pytest.raises(OSError):  # the forward is gone with the ssh process
        socket.create_connection(("127.0.0.1", lport), timeout=2).close()


def test_taken_local_port_is_skipped_and_sigterm_stops(sshd, http_server):
    lport = free_port_pair()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", lport))
    blocker.listen(1)
    t = Tunnel(base_args(sshd) + ["-r", http_server["port"], "-l", lport])
    try:
        url = t.wait_for_url()
        assert url == "http://127.0.0.1:%d/lab" % (lport + 1)
        body = urllib.request.urlopen("http://127.0.0.1:%d/" % (lport + 1), timeout=10).read().decode()
        assert http_server["token"] in body
        t.proc.send_signal(signal.SIGTERM)
        rc, out, err = t.finish()
    finally:
        t.kill()
        blocker.close()
    assert rc == 0
    assert "local port %d is taken (you asked for it), using %d" % (lport, lport + 1) in err


def test_wrong_key_reports_authentication_failure(sshd, http_server):
    t = Tunnel(base_args(sshd, key=sshd["wrong_key"]) + ["-r", http_server["port"], "-l", free_port()])
    rc, out, err = t.finish()
    assert rc == 3, err
    assert "authentication failed for '%s@127.0.0.1'" % sshd["user"] in err
    assert "ssh-copy-id -p %d" % sshd["port"] in err
    assert "Tunnel up" not in out


def test_closed_remote_port_is_reported(sshd):
    closed = free_port()  # nothing listens there on the "remote" side
    lport = free_port()
    t = Tunnel(base_args(sshd) + ["-r", closed, "-l", lport])
    rc, out, err = t.finish()
    assert rc == 5, err
    assert "nothing answers on 127.0.0.1:%d on the server" % closed in err
    assert "jupyter lab --no-browser --port %d" % closed in err
    with pytest.raises(OSError):  # no tunnel left behind
        socket.create_connection(("127.0.0.1", lport), timeout=2).close()


def test_unreachable_ssh_server_is_reported(sshd):
    args = base_args(sshd)
    args[args.index("-p") + 1] = free_port()  # no sshd there
    t = Tunnel(args + ["-l", free_port()])
    rc, out, err = t.finish()
    assert rc == 4, err
    assert "cannot reach the ssh server of '%s@127.0.0.1'" % sshd["user"] in err


def test_jump_host_through_a_config_file(sshd, http_server, tmp_path):
    """-J with the same sshd as bastion and target: ssh reads jump-host options from -F only."""
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n"
                   "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n"
                   % (sshd["port"], sshd["user"], sshd["key"]))
    lport = free_port()
    t = Tunnel(["127.0.0.1", "-F", cfg, "-J", "127.0.0.1", "-r", http_server["port"], "-l", lport])
    try:
        url = t.wait_for_url()
        assert "through 127.0.0.1" in "".join(t.out)
        rc, out, err = fetch_then_ctrl_c(t, url.replace("/lab", "/"), http_server)
    finally:
        t.kill()
    assert rc == 0, err


def test_usage_errors_and_help():
    rc = subprocess.run(["bash", str(TUNNEL), "--help"], capture_output=True, text=True)
    assert rc.returncode == 0
    for opt in ("--local-port", "--remote-port", "-J, --jump", "-i, --identity", "ServerAliveInterval",
                "ExitOnForwardFailure", "Ctrl-C"):
        assert opt in rc.stdout
    bad = subprocess.run(["bash", str(TUNNEL), "host", "-r", "70000"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "--remote-port must be a port number 1-65535, got '70000'" in bad.stderr
    nokey = subprocess.run(["bash", str(TUNNEL), "host", "-i", "/nonexistent/key"], capture_output=True, text=True)
    assert nokey.returncode == 2
    assert "identity file '/nonexistent/key' does not exist" in nokey.stderr
