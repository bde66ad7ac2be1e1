"""Hub-side logic of Gluon Lab, one module per concern.

- settings: the settings schema (each setting once: type, default, help; docs generated from it)
- hub_config: the hub's configuration built from the settings, one function per concern
  (hub/jupyterhub_config.py only calls it)
- secret_files: cookie secret / proxy token files created once, mode 600
- gpus: GPU discovery, per-user allocation and the GPU metric
- spawner: the one spawner class (GPU pinning, hardening, quick readiness) and the GPU pool
  built at hub start
- admin_view: the admins' GPU page and API (templates/gpus.html)
- auth: NativeAuthenticator hardened for a hostile room (bcrypt off the event loop, throttling)
- accounts: workshop attendee accounts and handouts (a package: rows, passwords, store,
  handout, cli)
- netguard: the host firewall rules that keep users' containers apart (the netguard service)
- swarm_spawner: users' servers as Swarm services on several hosts; node_guard: the netguard's
  counterpart on each Swarm worker, which also mounts sized homes there (node_homes);
  swarm_jobs: work run once on every worker (course data, accounts/swarm_homes' removal)
- backup: the daily copy of the hub's SQLite database (a hub service)
- bootstrap: run before JupyterHub starts (settings check, secrets, first admin account)
"""
