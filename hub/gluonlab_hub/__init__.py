"""Hub-side logic of Gluon Lab, one module per concern.

- settings: configuration from environment variables, validated with clear errors
- secret_files: cookie secret / proxy token files created once, mode 600
- gpus: GPU discovery and per-user allocation
- spawn: DockerSpawner wiring (limits, hardening, GPU requests, labels)
- accounts: workshop attendee accounts and handouts
- bootstrap: run before JupyterHub starts (secrets, first admin account)
"""
