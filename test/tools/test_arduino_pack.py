"""llm-arduino-pack writes an Arduino 1.5-format library zip; unpacked, its
sources compile with the host compiler in that layout (src/ the only include
path), and its example sketch, built against a stand-in for Arduino.h that
sends Serial to stdout, prints llama2.c's greedy story. library.properties'
url, which the Arduino library specification requires, is never empty."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from llmtools import arduino

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'test'))
from helpers.golden import LLAMA2C_GREEDY_200  # noqa: E402

# A reserved documentation domain (RFC 2606): this project has no public page.
URL = 'https://example.com/llm-mcu'

# The host's Arduino.h: what Story.ino uses, Serial on stdout, a main().
ARDUINO_H = r'''#pragma once
#include <stdint.h>
#include <stdio.h>
struct HostSerial {
    void begin(unsigned long) {}
    size_t write(const uint8_t *b, size_t n) { return fwrite(b, 1, n, stdout); }
    size_t println(const char *s = "") { return (size_t)printf("%s\n", s); }
};
static HostSerial Serial;
void setup();
void loop();
int main() { setup(); return 0; }
'''
REQUIRED_PROPERTIES = {'name', 'version', 'author', 'maintainer', 'sentence', 'paragraph',
                       'category', 'url', 'architectures'}


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, ' '.join(map(str, cmd)) + '\n' + r.stdout[-3000:] + r.stderr[-3000:]
    return r


def test_arduino_zip_builds_and_tells_the_story(cli, model_file, tmp_path):
    out = tmp_path / 'llm-mcu.zip'
    r = cli('arduino-pack', model_file('stories260K.bin'), '--tokenizer', model_file('tok512.bin'),
            '--url', URL, '-o', out)
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        z.extractall(tmp_path / 'unpacked')
    lib = tmp_path / 'unpacked' / 'llm-mcu'
    assert all(n.startswith('llm-mcu/') for n in names)
    props = dict(ln.split('=', 1) for ln in (lib / 'library.properties').read_text().splitlines())
    assert REQUIRED_PROPERTIES <= set(props), props
    assert props['url'] == URL
    assert (lib / 'src' / 'llm.h').is_file() and (lib / 'examples' / 'Story' / 'Story.ino').is_file()
    assert not (lib / 'include').exists()  # 1.5 layout: headers live in src/

    objs = tmp_path / 'obj'
    objs.mkdir()
    sources = sorted(p for p in (lib / 'src').rglob('*') if p.suffix in ('.c', '.S'))
    assert sources
    for i, src in enumerate(sources):
        run(['gcc', '-std=c99', '-O2', '-Wall', '-Werror', '-ffp-contract=off', '-I', lib / 'src',
             '-c', src, '-o', objs / f'{i}.o'])
    stub = tmp_path / 'stub'
    stub.mkdir()
    (stub / 'Arduino.h').write_text(ARDUINO_H)
    sketch = lib / 'examples' / 'Story'
    exe = tmp_path / 'story'
    run(['g++', '-O1', '-Wall', '-Werror', '-x', 'c++', sketch / 'Story.ino', '-x', 'none',
         *sorted(objs.glob('*.o')), '-I', stub, '-I', lib / 'src', '-I', sketch, '-lm', '-o', exe])
    story = subprocess.run([str(exe)], capture_output=True, timeout=120)
    assert story.returncode == 0
    assert story.stdout == LLAMA2C_GREEDY_200 + b'\n'


def test_arduino_pack_rejects_a_tree_without_the_library(cli, model_file, tmp_path):
    r = cli('arduino-pack', model_file('stories260K.bin'), '--tokenizer', model_file('tok512.bin'),
            '--source', tmp_path, '-o', tmp_path / 'x.zip')
    assert r.returncode == 2
    assert 'not the llm library' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path / 'x.zip').exists()


def tree_with_manifest(tmp_path, **fields):
    """A source tree: this checkout's lib/ beside a library.json with fields."""
    root = tmp_path / 'tree'
    root.mkdir()
    (root / 'lib').symlink_to(ROOT / 'lib')
    manifest = json.loads((ROOT / 'library.json').read_text())
    for k in ('homepage', 'repository'):
        manifest.pop(k, None)
    (root / 'library.json').write_text(json.dumps({**manifest, **fields}))
    return root


@pytest.mark.parametrize('fields, given, want', [
    ({'homepage': 'https://example.com/home'}, None, 'https://example.com/home'),
    ({'repository': {'type': 'git', 'url': 'https://example.com/llm-mcu.git'}}, None,
     'https://example.com/llm-mcu.git'),
    ({'homepage': 'https://example.com/home'}, URL, URL),
])
def test_properties_url_from_option_or_manifest(tmp_path, fields, given, want):
    root = tree_with_manifest(tmp_path, **fields)
    props = dict(ln.split('=', 1) for ln in arduino.properties(root, arduino.project_url(root, given))
                 .splitlines())
    assert props['url'] == want


@pytest.mark.parametrize('given', [None, 'example.com/llm-mcu', 'file:///tmp/llm-mcu'])
def test_arduino_pack_refuses_a_missing_or_bad_url(cli, tmp_path, given):
    """No homepage, no repository and no --url (or not a web address): exit
    status 2 with the reason, before any conversion, and no zip."""
    root = tree_with_manifest(tmp_path)
    out = tmp_path / 'x.zip'
    args = ['--url', given] if given else []
    r = cli('arduino-pack', tmp_path / 'no-model.bin', '--source', root, '-o', out, *args)
    assert r.returncode == 2
    assert 'library.properties' in r.stderr and 'Traceback' not in r.stderr
    assert ('--url' in r.stderr) if given is None else ('http(s)' in r.stderr)
    assert not out.exists()
