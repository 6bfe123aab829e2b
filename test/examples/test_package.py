"""`pio pkg pack` of the library (python extra_scripts/build/pio_pack.py, offline)
holds exactly what a user needs: the library, its ports and board support,
the Python tools its extra script runs, the examples, README and licence;
no tests, benchmarks, build outputs or models."""
import fnmatch
import subprocess

from helpers.package import ROOT, tar_names

# Tracked files of this checkout that the package must hold (fnmatch
# patterns; "*" also matches "/").
SHIPPED = [
    'lib/llm/include/*', 'lib/llm/src/*', 'lib/llm/BLOB_FORMAT.md',
    'lib/llm_port_posix/include/*', 'lib/llm_port_posix/src/*',
    'lib/llm_port_esp32s3/include/*', 'lib/llm_port_esp32s3/src/*',
    'lib/board_mps/include/*', 'lib/board_mps/src/*', 'lib/board_mps/ld/*',
    'lib/board_mps/board_link.py',
    'boards/mps3_an547.json', 'boards/mps2_an*.json', 'boards/esp32s3/partitions_llm_*.csv',
    'extra_scripts/build/library_extra_script.py', 'extra_scripts/build/embed_model.py',
    'extra_scripts/build/model_convert.py', 'extra_scripts/build/model_files.py', 'extra_scripts/build/cmsis_dsp.py',
    'extra_scripts/build/esp32s3_flash_model.py', 'extra_scripts/build/esp32s3_partitions.py',
    'extra_scripts/llmtools/*.py',
    'examples/run/*', 'examples/story/*', 'examples/esp32s3_story/*', 'examples/esp32s3_chat/*',
    'library.json', 'README.md', 'LICENSE',
]
# Of those, what a user does not need: the tools' test models, the
# ESP32-S3 story's benchmark mode.
NOT_SHIPPED = ['extra_scripts/llmtools/testmodels.py', 'examples/*/bench*']
# Never in a package, whatever the patterns above say.
FORBIDDEN = ['test/*', '*/test/*', '*bench*', '.pio/*', '*.bin', '*.llmb', '*.gguf', '*.tar.gz',
             '*__pycache__*', '*.pyc', '.venv/*']


def tracked_files():
    out = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True)
    return [f for f in out.stdout.splitlines() if (ROOT / f).is_file()]


def matches(name, patterns):
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def test_package_holds_exactly_what_a_user_needs(packed_library):
    have = tar_names(packed_library)
    want = {f for f in tracked_files() if matches(f, SHIPPED) and not matches(f, NOT_SHIPPED)}
    assert want, 'no tracked files matched: run from a git checkout'
    missing = sorted(want - have)
    unexpected = sorted(have - want)
    forbidden = sorted(f for f in have if matches(f, FORBIDDEN))
    assert not missing, f'missing from {packed_library.name}: {missing}'
    assert not unexpected, f'unexpected in {packed_library.name}: {unexpected}'
    assert not forbidden, f'never packaged, but in {packed_library.name}: {forbidden}'


def test_packaged_manifest_keeps_the_licence(packed_library):
    import json
    import tarfile
    with tarfile.open(packed_library) as tar:
        manifest = json.load(tar.extractfile('library.json'))
    assert manifest['license'] == 'MIT'
    assert manifest['build']['extraScript'] == 'extra_scripts/build/library_extra_script.py'
