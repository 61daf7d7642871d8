#!/usr/bin/env python3
"""Re-run, one at a time and by hand, the mutants gremlins did not kill.

    scripts/mutant-recheck.py REPORT.json PKGDIR [STATUS,...]
    scripts/mutant-recheck.py --one PKGDIR FILE:LINE:COL TYPE

REPORT.json is gremlins' machine-readable output (gremlins unleash -o
REPORT.json PKGDIR). For each mutant whose status is LIVED, NOT COVERED or
TIMED OUT (or the statuses given), the script applies the same change to
the file in the working tree, runs `go test -count=1 ./PKGDIR`, restores the
file (also on Ctrl-C or SIGTERM) and prints KILLED (with the failing
tests), LIVED, or NOT VIABLE (the mutant does not compile). gremlins counts
a mutant in a switch's case expression as NOT COVERED even when a test runs
it: this is how those are checked, and how a new test is shown to kill a
mutant without a second gremlins run.

The line and column must still point at the operator: run it on the
commit gremlins ran on, plus new tests. MT (default 600s) is go test's
-timeout. Do not edit the package while it runs.
"""
import json
import os
import signal
import subprocess
import sys

SWAP = {
    'CONDITIONALS_NEGATION': {'==': '!=', '!=': '==', '<=': '>', '>=': '<', '<': '>=', '>': '<='},
    'CONDITIONALS_BOUNDARY': {'<=': '<', '>=': '>', '<': '<=', '>': '>='},
    'ARITHMETIC_BASE': {'+': '-', '-': '+', '*': '/', '/': '*', '%': '*'},
    'INCREMENT_DECREMENT': {'++': '--', '--': '++'},
    'INVERT_NEGATIVES': {'-': '+'},
    'INVERT_LOGICAL': {'&&': '||', '||': '&&'},
}


def _term(*_):
    raise KeyboardInterrupt


def one(pkg, pos, typ):
    fname, line, col = pos.rsplit(':', 2)
    line, col = int(line), int(col)
    path = os.path.join(pkg, fname)
    with open(path) as f:
        src = f.read()
    lines = src.split('\n')
    text, i = lines[line - 1], col - 1
    swap = SWAP[typ]
    for old in sorted(swap, key=len, reverse=True):
        if text.startswith(old, i):
            break
    else:
        return 'MOVED %s %s: no operator at that position: %s' % (pos, typ, text.strip())
    lines[line - 1] = text[:i] + swap[old] + text[i + len(old):]
    try:
        with open(path, 'w') as f:
            f.write('\n'.join(lines))
        r = subprocess.run(['go', 'test', '-count=1', '-timeout', os.environ.get('MT', '600s'), './' + pkg],
                           capture_output=True, text=True)
        out = r.stdout + r.stderr
        if '[build failed]' in out or '[setup failed]' in out:
            return 'NOT VIABLE %s %s' % (pos, typ)
        if r.returncode == 0:
            return 'LIVED %s %s: %s' % (pos, typ, lines[line - 1].strip())
        fails = [x.strip() for x in out.split('\n') if x.startswith('--- FAIL') or x.startswith('panic:')][:3]
        return 'KILLED %s %s | %s' % (pos, typ, '; '.join(fails))
    finally:
        with open(path, 'w') as f:
            f.write(src)


def main():
    signal.signal(signal.SIGTERM, _term)
    if sys.argv[1] == '--one':
        print(one(sys.argv[2], sys.argv[3], sys.argv[4]))
        return
    report, pkg = sys.argv[1], sys.argv[2]
    want = sys.argv[3].split(',') if len(sys.argv) > 3 else ['LIVED', 'NOT COVERED', 'TIMED OUT']
    with open(report) as f:
        d = json.load(f)
    for f in d['files']:
        for m in f['mutations']:
            if m['status'] in want:
                pos = '%s:%d:%d' % (f['file_name'], m['line'], m['column'])
                print('%-11s -> %s' % (m['status'], one(pkg, pos, m['type'])), flush=True)


if __name__ == '__main__':
    main()
