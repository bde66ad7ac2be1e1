"""Hub-side logic of Gluon Lab, one module per concern.

- settings: the settings schema (each setting once: type, default, help; docs generated from it)
- secret_files: cookie secret / proxy token files created once, mode 600
- gpus: GPU discovery and per-user allocation
- spawn: DockerSpawner wiring (limits, hardening, GPU requests, labels)
- accounts: workshop attendee accounts and handouts
- content_sync: tutorial seeding inside the notebook container (stdlib only)
- bootstrap: run before JupyterHub starts (secrets, first admin account)
"""
