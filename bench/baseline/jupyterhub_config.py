# Benchmark baseline: Gluon Lab's hub config with the spawn-related settings put back to the
# JupyterHub 5.5 / DockerSpawner 14 defaults, as the reference deployment
# (jupyterhub-deploy-docker) runs them. Accounts, network, volumes and hardening stay as they
# are, so the comparison isolates the tuning, not the features.
c = get_config()  # noqa: F821  (injected by JupyterHub)
load_subconfig("/opt/gluonlab/hub/jupyterhub_config.py")  # noqa: F821

c.JupyterHub.spawner_class = "docker"  # plain DockerSpawner
c.JupyterHub.concurrent_spawn_limit = 100
# JupyterHub's own retry suggestion (30-60 s): drop the tornado_settings override.
c.JupyterHub.tornado_settings = {}
c.JupyterHub.active_server_limit = 0
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 30
# No server start options: every server extension the image enables loads at start.
c.Spawner.args = []
