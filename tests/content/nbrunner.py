"""Executes tutorial notebooks inside the notebook image; prints one JSON report.

Run by harness.py as `/opt/venv/bin/python nbrunner.py SPEC.json` in a container of
gluonlab/notebook:cpu, so the tutorials run against exactly what attendees get.

SPEC: {"content": dir with utils.py and chapter*/, "work": scratch dir,
       "data": data dir to fill with fakedata (or "" to use what is there),
       "timeout": seconds per cell,
       "notebooks": {"chapter03_supervised/x.md": "check-cell code or null", ...}}

For each notebook: convert the markdown with notedown (only ```python blocks become code),
check that jupytext reads the same code cells and round-trips the .ipynb, append the check cell,
execute with nbclient in the notebook's own folder (a copy, so notebooks may write files), and
record the outcome. The report goes to stdout between marker lines.
"""
import json
import os
import re
import shutil
import sys
import time
import traceback

import jupytext
import nbformat
import notedown
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

MARK = '----- GLUONLAB NBRUNNER REPORT -----'
ANSI = re.compile(r'\x1b\[[0-9;]*m')  # colour codes in tracebacks


def code_sources(nb):
    return [c.source.strip() for c in nb.cells if c.cell_type == 'code']


def conversion_report(text):
    """notedown's code cells vs jupytext's, and whether jupytext round-trips the notebook."""
    nb = notedown.MarkdownReader(match='python').reads(text)
    by_notedown = code_sources(nb)
    by_jupytext = code_sources(jupytext.reads(text, fmt='md'))
    roundtrip = code_sources(jupytext.reads(jupytext.writes(nb, fmt='md'), fmt='md'))
    return nb, {
        'code_cells': len(by_notedown),
        'jupytext_same_cells': by_notedown == by_jupytext,
        'roundtrip_same_cells': by_notedown == roundtrip,
        'ipynb_valid': _valid(nb),
    }


def _valid(nb):
    try:
        nbformat.validate(nbformat.from_dict(json.loads(nbformat.writes(nb))))
        return True
    except nbformat.ValidationError:
        return False


def run_one(rel, check, work, timeout):
    path = os.path.join(work, rel)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    result = {'notebook': rel, 'ok': False, 'error': None, 'failed_cell': None,
              'in_check': False, 'seconds': 0.0}
    start = time.time()
    try:
        nb, result['conversion'] = conversion_report(text)
    except Exception as e:  # noqa: BLE001 - any conversion failure is a test failure to report
        result['error'] = 'conversion failed: %r' % e
        return result
    n_code = len(nb.cells)
    if check:
        nb.cells.append(nbformat.v4.new_code_cell(check))
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3',
                            resources={'metadata': {'path': os.path.dirname(path)}})
    try:
        client.execute()
        result['ok'] = True
    except (CellExecutionError, CellTimeoutError) as e:
        result['error'] = ANSI.sub('', str(e))[-4000:]
    except Exception:  # noqa: BLE001 - kernel death etc.: report, run the next notebook
        result['error'] = traceback.format_exc()[-4000:]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == 'code' and any(o.get('output_type') == 'error' for o in cell.get('outputs', [])):
            result['failed_cell'] = i
            result['in_check'] = i >= n_code
            result['failed_source'] = cell.source[:2000]
            break
    # Text the notebook printed (last lines): lets a failing check show the training log.
    stream = [o.get('text', '') for c in nb.cells if c.cell_type == 'code'
              for o in c.get('outputs', []) if o.get('output_type') == 'stream']
    result['stdout_tail'] = ''.join(stream)[-3000:]
    result['seconds'] = round(time.time() - start, 2)
    return result


def main():
    with open(sys.argv[1], encoding='utf-8') as f:
        spec = json.load(f)
    work = spec['work']
    shutil.copytree(spec['content'], work, dirs_exist_ok=True)
    if spec.get('data'):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import fakedata
        fakedata.write_all(spec['data'])
    results = []
    for rel, check in spec['notebooks'].items():
        results.append(run_one(rel, check, work, spec.get('timeout', 300)))
        # Progress on stderr: if the whole run times out, the host shows how far it got.
        print('[nbrunner] %s %s %.1fs' % (rel, 'ok' if results[-1]['ok'] else 'FAILED',
                                          results[-1]['seconds']), file=sys.stderr, flush=True)
    print(MARK)
    print(json.dumps(results))
    print(MARK)


if __name__ == '__main__':
    main()
