"""Hub-side logic of Gluon Lab, one module per concern.

- settings: the settings schema (each setting once: type, default, help; docs generated from it)
- secret_files: cookie secret / proxy token files created once, mode 600
- gpus: GPU discovery, per-user allocation and the GPU metric
- spawner: the one spawner class (GPU pinning, hardening, quick readiness) and the GPU pool
  built at hub start
- admin_view: the admins' GPU page and API (templates/gpus.html)
- auth: NativeAuthenticator with the password check off the event loop
- accounts: workshop attendee accounts and handouts
- bootstrap: run before JupyterHub starts (secrets, first admin account)
"""
