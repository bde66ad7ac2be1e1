"""Gluon Lab doctor: checks an install and prints PASS/WARN/FAIL with symptom, diagnosis, remedy.

Started by scripts/doctor.sh through scripts/lib/doctor.py. Stdlib only, Python >= 3.6 for the
doctor itself; the Python being *checked* runs probe.py in child processes (Python 2.7 syntax),
so a crash there becomes a FAIL line instead of a traceback.

Modules:
  cli.py       options, --help (generated from the registry), exit codes
  registry.py  @check declarations (name, group, needs/provides facts), Facts, the runner
  checks/      one module per area: python_env (python, pip, numpy), conda, mxnet, gpu,
               jupyter, host (docker, docker-gpus, disk, docker-runtime), hub (the network check)
  messages.py  every text, Chinese and English side by side, and the remedy commands
  report.py    the text and JSON report
  system.py    running commands and the probe with time limits
  parse.py     pure parsers and compatibility tables (unit-tested)
  probe.py     runs inside the checked Python and prints one JSON line
"""
