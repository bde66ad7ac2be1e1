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
import sys
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


def _container_env(env=None):
    run_env = {'GLUONLAB_SMALL': '1', 'GLUONLAB_DATA_DIR': '/tmp/data', 'MPLBACKEND': 'Agg',
               # An empty pre-cache keeps an image built with PRECACHE_DATA=1 from
               # shadowing the generated data.
               'GLUONLAB_PRECACHE_DIR': '/tmp/no-precache',
               # CI shares 2 cores with other containers: MXNet's OpenMP workers spin-wait and
               # run about 2x slower under contention, and the tutorials' tiny tensors gain
               # nothing from threads.
               'OMP_NUM_THREADS': '1'}
    run_env.update(env or {})
    return run_env


def _run_in_image(entry, spec, image, total_timeout, env, what):
    """Runs `entry` (Python code that reads the JSON spec from /tmp/spec.json) in one fresh
    container of the image, without network; returns the JSON list printed between MARKs."""
    name = NAME_PREFIX + uuid.uuid4().hex[:10]
    # create, then start: the container exists under its name before anything can time out,
    # so the cleanup below always finds it (a killed `docker run` may create it late).
    cmd = ['docker', 'create', '--name', name, '--network', 'none', '-i',
           '-v', CONTENT + ':/gluonlab-content:ro', '-v', HERE + ':/gluonlab-tests:ro',
           '--entrypoint', '/opt/venv/bin/python']
    for k, v in _container_env(env).items():
        cmd += ['-e', '%s=%s' % (k, v)]
    # The spec travels on stdin so nothing has to be written to a mounted folder.
    cmd += [image, '-c',
            'import json, sys; open("/tmp/spec.json", "w").write(sys.stdin.read()); '
            'sys.argv = ["runner", "/tmp/spec.json"]; sys.path.insert(0, "/gluonlab-tests"); '
            + entry]
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
        raise RuntimeError('%s still busy after %d s (a hung cell or a much slower machine); '
                           'finished so far:\n%s' % (what, total_timeout, done[-3000:])) from None
    finally:
        subprocess.run(['docker', 'rm', '-f', name], capture_output=True)
    parts = proc.stdout.split(MARK)
    if proc.returncode != 0 or len(parts) < 3:
        raise RuntimeError('%s failed (exit %s)\nstdout tail:\n%s\nstderr tail:\n%s'
                           % (what, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return json.loads(parts[1])


def run_notebooks(notebooks, image=IMAGE, cell_timeout=300, total_timeout=840, env=None):
    """Execute {relpath: check_code_or_None} in one container; returns {relpath: result dict}.

    total_timeout stays below pytest.ini's 900 s so a hang fails with the runner's message.
    """
    missing = [rel for rel in notebooks if not os.path.isfile(os.path.join(CONTENT, rel))]
    if missing:
        raise FileNotFoundError('notebooks not found under %s: %s' % (CONTENT, missing))
    spec = {'content': '/gluonlab-content', 'work': '/tmp/work', 'data': '/tmp/data',
            'timeout': cell_timeout, 'notebooks': notebooks}
    found = _run_in_image('import nbrunner; nbrunner.main()', spec, image, total_timeout, env,
                          'notebook runner')
    return {r['notebook']: r for r in found}


def run_checks(checks, image=IMAGE, total_timeout=600, env=None):
    """Runs {name: python code} in one container, each in a fresh namespace that has `utils`
    (content/utils.py) imported and the fake data sets on disk; returns {name: {ok, error}}.

    Used by tests/content/test_utils_*.py: the host has no MXNet, the image has.
    """
    spec = {'content': '/gluonlab-content', 'data': '/tmp/data', 'checks': checks}
    found = _run_in_image('import harness; harness.checks_main()', spec, image, total_timeout,
                          env, 'utils check runner')
    return {r['name']: r for r in found}


def checks_main():
    """Container side of run_checks (stdlib only here; utils and fakedata come from the spec)."""
    import traceback
    with open(sys.argv[1], encoding='utf-8') as f:
        spec = json.load(f)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fakedata
    fakedata.write_all(spec['data'])
    sys.path.insert(0, spec['content'])
    sys.dont_write_bytecode = True  # content/ is mounted read-only
    results = []
    for name, code in spec['checks'].items():
        namespace = {}
        try:
            exec(compile('import utils\n' + code, '<check %s>' % name, 'exec'), namespace)
            results.append({'name': name, 'ok': True, 'error': None})
        except Exception:  # noqa: BLE001 - every failure is reported with its traceback
            results.append({'name': name, 'ok': False, 'error': traceback.format_exc()[-3000:]})
        finally:
            import matplotlib.pyplot as plt
            plt.close('all')
    print(MARK)
    print(json.dumps(results))
    print(MARK)


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
