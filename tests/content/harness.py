"""Host side of the notebook tests: runs many tutorial notebooks in ONE container of the image.

    from tests.content.harness import run_notebooks
    results = run_notebooks({'chapter03_supervised/x.md': 'assert history[-1] < history[0]'})
    results['chapter03_supervised/x.md']['ok']  # plus error, failed_cell, in_check, seconds, ...

The container gets the repo's content/ and tests/content/ read-only, generates the fake data
sets inside itself (fakedata.py), runs nbrunner.py with the image's /opt/venv/bin/python, and
has no network: notebooks must not download anything.
"""
import json
import os
import subprocess
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTENT = os.path.join(REPO, 'content')
HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = os.environ.get('GLUONLAB_NOTEBOOK_IMAGE', 'gluonlab/notebook:cpu')
MARK = '----- GLUONLAB NBRUNNER REPORT -----'
# Unique prefix for everything these tests create in the shared Docker engine.
NAME_PREFIX = 'gluonlab-tut-'


def section_files():
    """Every section notebook under content/chapter*/, as paths relative to content/."""
    found = []
    for chapter in sorted(os.listdir(CONTENT)):
        d = os.path.join(CONTENT, chapter)
        if chapter.startswith('chapter') and os.path.isdir(d):
            found += [chapter + '/' + f for f in sorted(os.listdir(d)) if f.endswith('.md')]
    return found


def run_notebooks(notebooks, image=IMAGE, cell_timeout=300, total_timeout=840, env=None):
    """Execute {relpath: check_code_or_None} in one container; returns {relpath: result dict}.

    total_timeout stays below pytest.ini's 900 s so a hang fails with the runner's message.
    """
    missing = [rel for rel in notebooks if not os.path.isfile(os.path.join(CONTENT, rel))]
    if missing:
        raise FileNotFoundError('notebooks not found under %s: %s' % (CONTENT, missing))
    spec = {'content': '/gluonlab-content', 'work': '/tmp/work', 'data': '/tmp/data',
            'timeout': cell_timeout, 'notebooks': notebooks}
    name = NAME_PREFIX + uuid.uuid4().hex[:10]
    run_env = {'GLUONLAB_SMALL': '1', 'GLUONLAB_DATA_DIR': '/tmp/data', 'MPLBACKEND': 'Agg',
               # An empty pre-cache keeps an image built with PRECACHE_DATA=1 from
               # shadowing the generated data.
               'GLUONLAB_PRECACHE_DIR': '/tmp/no-precache',
               # CI shares 2 cores with other containers: MXNet's OpenMP workers spin-wait and
               # run about 2x slower under contention, and the tutorials' tiny tensors gain
               # nothing from threads.
               'OMP_NUM_THREADS': '1'}
    run_env.update(env or {})
    # create, then start: the container exists under its name before anything can time out,
    # so the cleanup below always finds it (a killed `docker run` may create it late).
    cmd = ['docker', 'create', '--name', name, '--network', 'none', '-i',
           '-v', CONTENT + ':/gluonlab-content:ro', '-v', HERE + ':/gluonlab-tests:ro',
           '--entrypoint', '/opt/venv/bin/python']
    for k, v in run_env.items():
        cmd += ['-e', '%s=%s' % (k, v)]
    # The spec travels on stdin so nothing has to be written to a mounted folder.
    cmd += [image, '-c',
            'import json, sys; open("/tmp/spec.json", "w").write(sys.stdin.read()); '
            'sys.argv = ["nbrunner", "/tmp/spec.json"]; sys.path.insert(0, "/gluonlab-tests"); '
            'import nbrunner; nbrunner.main()']
    try:
        created = subprocess.run(cmd, capture_output=True, text=True)
        if created.returncode != 0:
            raise RuntimeError('cannot create a container of %s: %s\nBuild the image first '
                               '(scripts/test.sh does), or set GLUONLAB_NOTEBOOK_IMAGE.'
                               % (image, created.stderr.strip()))
        proc = subprocess.run(['docker', 'start', '-ai', name], input=json.dumps(spec),
                              capture_output=True, text=True, timeout=total_timeout)
    except subprocess.TimeoutExpired as e:
        done = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or '')
        raise RuntimeError('notebook runner still busy after %d s (a hung cell or a much slower '
                           'machine); finished so far:\n%s' % (total_timeout, done[-3000:])) from None
    finally:
        subprocess.run(['docker', 'rm', '-f', name], capture_output=True)
    parts = proc.stdout.split(MARK)
    if proc.returncode != 0 or len(parts) < 3:
        raise RuntimeError('notebook runner failed (exit %s)\nstdout tail:\n%s\nstderr tail:\n%s'
                           % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return {r['notebook']: r for r in json.loads(parts[1])}


def describe(result):
    """Readable failure message for an assertion."""
    lines = ['%s: %s' % (result['notebook'], 'check cell failed' if result.get('in_check')
                         else 'notebook failed' if not result['ok'] else 'ok')]
    if result.get('failed_source'):
        lines += ['--- failing cell ---', result['failed_source']]
    if result.get('error'):
        lines += ['--- error ---', result['error']]
    if result.get('stdout_tail'):
        lines += ['--- output tail ---', result['stdout_tail']]
    return '\n'.join(lines)


def assert_conversion_agrees(rel, conv):
    """notedown and jupytext must see the same code cells, and jupytext must round-trip them."""
    assert conv['ipynb_valid'], rel + ': notedown output is not a valid notebook'
    assert conv['jupytext_same_cells'], (
        rel + ': jupytext sees different code cells than notedown; put code only in ```python '
        'blocks and shell commands in ```shell or ```text blocks')
    assert conv['roundtrip_same_cells'], rel + ': .ipynb -> jupytext md -> notebook changed the code'


# Every notebook's two checks, imported by each test_chapter*.py (pytest collects them there).
def test_notebook_executes_and_check_passes(results, rel):
    result = results[rel]
    assert result['ok'], describe(result)


def test_notedown_and_jupytext_agree(results, rel):
    assert_conversion_agrees(rel, results[rel]['conversion'])
