"""The notebook image ships the tutorials, and a user's first start puts them in ~/tutorials.

Runs the image with its own entrypoint (start-notebook.sh seeds the home, then starts
JupyterLab), waits for the seeding to finish and compares every file with content/ here.
"""
import hashlib
import json
import os
import subprocess
import time
import uuid

import pytest

import harness

pytestmark = [pytest.mark.docker, pytest.mark.content]

HOME_TUTORIALS = '/home/jovyan/tutorials'
# content_sync writes its manifest last: once it exists, the copy is complete.
MANIFEST = HOME_TUTORIALS + '/.gluonlab-content.json'
SKIP_PARTS = ('__pycache__', '.ipynb_checkpoints')  # never sent to the build (.dockerignore)


def repo_content_hashes():
    found = {}
    for dirpath, dirnames, filenames in os.walk(harness.CONTENT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_PARTS]
        for name in filenames:
            if name.endswith('.pyc'):
                continue
            path = os.path.join(dirpath, name)
            with open(path, 'rb') as f:
                found[os.path.relpath(path, harness.CONTENT)] = hashlib.sha256(f.read()).hexdigest()
    return found


HASH_SCRIPT = '''
import hashlib, json, os, sys
root = sys.argv[1]
out = {}
for d, _, files in os.walk(root):
    for n in files:
        p = os.path.join(d, n)
        out[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def seeded_home():
    name = harness.NAME_PREFIX + 'home-' + uuid.uuid4().hex[:8]
    subprocess.run(['docker', 'run', '-d', '--name', name, '--network', 'none', harness.IMAGE],
                   check=True, capture_output=True, text=True)
    try:
        deadline = time.time() + 90
        while subprocess.run(['docker', 'exec', name, 'test', '-f', MANIFEST]).returncode != 0:
            if time.time() > deadline:
                logs = subprocess.run(['docker', 'logs', name], capture_output=True, text=True)
                pytest.fail('no %s after 90 s; container log:\n%s%s'
                            % (MANIFEST, logs.stdout[-2000:], logs.stderr[-2000:]))
            time.sleep(1)

        def hashes(root):
            proc = subprocess.run(['docker', 'exec', name, 'python3', '-c', HASH_SCRIPT, root],
                                  check=True, capture_output=True, text=True)
            return json.loads(proc.stdout)

        yield {'home': hashes(HOME_TUTORIALS), 'image': hashes('/opt/gluonlab/content')}
    finally:
        subprocess.run(['docker', 'rm', '-f', name], capture_output=True)


def is_tutorial_source(rel):
    """The markdown the image build turns into a notebook and does not ship (the table of
    contents and every chapter section: images/notebook/build/convert-tutorials.py)."""
    return rel == 'README.md' or (rel.startswith('chapter') and rel.endswith('.md') and rel.count('/') == 1)


def as_notebook(rel):
    return rel[:-len('.md')] + '.ipynb'


def test_image_ships_current_content(seeded_home):
    repo = repo_content_hashes()
    image = seeded_home['image']
    files = [rel for rel in repo if not is_tutorial_source(rel)]
    missing = sorted(set(files) - set(image))
    differ = sorted(rel for rel in files if rel in image and image[rel] != repo[rel])
    assert not missing and not differ, (
        'the image does not ship content/ as it is in the repo (rebuild it: scripts/test.sh '
        'builds images). missing: %s, different: %s' % (missing, differ))
    # Each tutorial once, as its notebook: the markdown source stays in the repository.
    sources = [rel for rel in repo if is_tutorial_source(rel)]
    assert len(sources) == len(harness.section_files()) + 1
    assert not [rel for rel in sources if as_notebook(rel) not in image], 'a tutorial has no notebook in the image'
    assert not [rel for rel in sources if rel in image], 'the image ships markdown sources beside the notebooks'


def test_first_start_seeds_every_tutorial_into_home(seeded_home):
    repo = repo_content_hashes()
    home, image = seeded_home['home'], seeded_home['image']
    for rel in harness.section_files() + ['README.md']:
        notebook = as_notebook(rel)
        assert notebook in home and home[notebook] == image[notebook], (
            '%s is missing or different in %s' % (notebook, HOME_TUTORIALS))
        assert rel not in home, '%s is in %s beside its notebook' % (rel, HOME_TUTORIALS)
    for rel in ['utils.py', 'datasets.py', 'environment.yml']:
        assert home.get(rel) == repo[rel], '%s is missing or different in %s' % (rel, HOME_TUTORIALS)
