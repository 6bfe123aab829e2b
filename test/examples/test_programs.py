"""The example programs as a user runs them: the host program's stdout is
llama2.c run.c's, byte for byte, for llama2.c checkpoints and for our blobs;
its errors are clear; the story firmware in QEMU prints the same story as
the host on the Cortex-M55 and on the MPS2 Cortex-M4F / M7 / M33 boards, and
the AArch64 (NEON) host program under qemu-user prints the host's text.
They need `pio run -e native -e native_aarch64 -e m55_story -e m4_story -e m7_story
-e m33_story -e m33x2_story` first."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from helpers.golden import LLAMA2C_GREEDY_200
from helpers.targets import host_argv
from qemu_target import board_command

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / '.pio' / 'build' / 'native' / 'program'
PROGRAM_AARCH64 = ROOT / '.pio' / 'build' / 'native_aarch64' / 'program'
STORY_ELF = ROOT / '.pio' / 'build' / 'm55_story' / 'firmware.elf'
QEMU = ['qemu-system-arm', '-M', 'mps3-an547', '-nographic', '-monitor', 'none', '-serial', 'none',
        '-semihosting-config', 'enable=on,target=native', '-icount', 'shift=0']


def built(path: Path, env: str) -> Path:
    if not path.is_file():
        pytest.fail(f'{path} is missing: build it with `pio run -e {env}`', pytrace=False)
    return path


def run(args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=300, **kw)


def test_host_program_matches_llama2c(models_dir):
    r = run([built(PROGRAM, 'native'), models_dir / 'stories260K.bin', '-z', models_dir / 'tok512.bin',
             '-t', '0', '-n', '200', '-i', 'Once upon a time'])
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == LLAMA2C_GREEDY_200 + b'\n'
    assert b'achieved tok/s: ' in r.stderr


def test_host_program_reads_blob_with_embedded_tokenizer(models_dir, tmp_path):
    blob = tmp_path / 'stories260K.llmb'
    conv = run(['python', '-m', 'llmtools', 'convert', models_dir / 'stories260K.bin',
                '--tokenizer', models_dir / 'tok512.bin', '-o', blob, '--no-progress'])
    assert conv.returncode == 0, conv.stderr.decode()
    r = run([built(PROGRAM, 'native'), blob, '-t', '0', '-n', '200', '-i', 'Once upon a time'])
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == LLAMA2C_GREEDY_200 + b'\n'


@pytest.mark.parametrize('case', ['missing', 'corrupt', 'no_tokenizer'])
def test_host_program_errors(models_dir, tmp_path, case):
    model = models_dir / 'stories260K.bin'
    args = ['-z', models_dir / 'tok512.bin']
    if case == 'missing':
        model = tmp_path / 'nope.bin'
    elif case == 'corrupt':
        model = tmp_path / 'short.bin'
        model.write_bytes((models_dir / 'stories260K.bin').read_bytes()[:5000])
    else:
        args = ['-z', tmp_path / 'tokenizer.bin']  # run.c's default name, absent here
    r = run([built(PROGRAM, 'native'), model] + args + ['-n', '8'], cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout == b''
    msg = r.stderr.decode()
    assert str(model.name if case != 'no_tokenizer' else 'tokenizer.bin') in msg
    if case == 'corrupt':
        assert 'LLM_ERR_TRUNCATED' in msg


def test_aarch64_program_matches_llama2c(models_dir):
    """The NEON build (static AArch64 Linux program, qemu-aarch64 here)."""
    argv, arch = host_argv(str(built(PROGRAM_AARCH64, 'native_aarch64')))
    assert arch in (None, 'aarch64'), arch
    r = run(argv + [models_dir / 'stories260K.bin', '-z', models_dir / 'tok512.bin',
                    '-t', '0', '-n', '200', '-i', 'Once upon a time'])
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == LLAMA2C_GREEDY_200 + b'\n'


@pytest.mark.parametrize('weights', ['q8', 'q4'])
def test_aarch64_program_quantized_matches_host(models_dir, tmp_path, weights):
    """q8 / q4 weights: the NEON kernels give the reference's bits, so the
    greedy text is the x86-64 host program's, on one thread and on two."""
    blob = tmp_path / f'stories260K_{weights}.llmb'
    conv = run(['python', '-m', 'llmtools', 'convert', models_dir / 'stories260K.bin',
                '--tokenizer', models_dir / 'tok512.bin', '--weights', weights, '-o', blob,
                '--q4-method', 'minmax', '--no-progress'])  # (the quickest; any q4 will do)
    assert conv.returncode == 0, conv.stderr.decode()
    args = [blob, '-t', '0', '-n', '256', '-i', 'Once upon a time']
    want = run([built(PROGRAM, 'native')] + args)
    assert want.returncode == 0 and len(want.stdout) > 500, want.stderr.decode()
    argv, _ = host_argv(str(built(PROGRAM_AARCH64, 'native_aarch64')))
    for j in ('1', '2'):
        r = run(argv + args + ['-j', j])
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == want.stdout, f'-j {j}: AArch64 text differs from the host\'s'


def test_m55_story_in_qemu_matches_host():
    r = run(QEMU + ['-kernel', built(STORY_ELF, 'm55_story')])
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == LLAMA2C_GREEDY_200 + b'\n'
    err = r.stderr.decode()
    assert ' tok/s' in err and 'arena ' in err, err


# The MPS2 boards' story envs (boards/mps2.ini) and their QEMU machines (the
# ELF names its machine and arguments: qemu_target.board_command).
MPS2_STORIES = [('m4_story', 'mps2-an386'), ('m7_story', 'mps2-an500'),
                ('m33_story', 'mps2-an505'), ('m33x2_story', 'mps2-an521')]
CORES_RE = re.compile(r'cores: (\d+) \(([^)]*)\), items per core: (\d+), (\d+)')


@pytest.mark.parametrize('env, machine', MPS2_STORIES, ids=[e for e, _ in MPS2_STORIES])
def test_mps2_story_in_qemu_matches_host(env, machine):
    elf = built(ROOT / '.pio' / 'build' / env / 'firmware.elf', env)
    cmd = board_command(str(elf))
    assert cmd[1:3] == ['-M', machine]
    r = run(cmd)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == LLAMA2C_GREEDY_200 + b'\n'
    err = r.stderr.decode()
    assert ' tok/s' in err and 'arena ' in err, err
    if machine == 'mps2-an521':
        # Both cores ran mat-vec rows and attention heads, about half each.
        m = CORES_RE.search(err)
        assert m and m.group(1) == '2', err
        main, worker = int(m.group(3)), int(m.group(4))
        assert worker > 0 and abs(main - worker) <= main // 10, err


def cores() -> int:
    """Processors online, as the program counts them (sysconf)."""
    return os.sysconf('SC_NPROCESSORS_ONLN')


def generate_j(models_dir, j: int):
    return run([built(PROGRAM, 'native'), models_dir / 'stories260K.bin', '-z', models_dir / 'tok512.bin',
                '-t', '0', '-n', '200', '-i', 'Once upon a time', '-j', j])


def test_host_program_threads_zero_means_all_cores(models_dir):
    r = generate_j(models_dir, 0)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == LLAMA2C_GREEDY_200 + b'\n'
    assert b'note:' not in r.stderr  # as many as the cores: nothing to cap
    assert f'threads: {cores()}\n'.encode() in r.stderr


def test_host_program_one_thread_by_default(models_dir):
    r = run([built(PROGRAM, 'native'), models_dir / 'stories260K.bin', '-z', models_dir / 'tok512.bin',
             '-t', '0', '-n', '8'])
    assert r.returncode == 0, r.stderr.decode()
    assert b'threads: 1\n' in r.stderr


@pytest.mark.parametrize('extra', [1, 61])
def test_host_program_caps_threads_to_cores(models_dir, extra):
    n = cores()
    r = generate_j(models_dir, n + extra)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == LLAMA2C_GREEDY_200 + b'\n'
    notes = [line for line in r.stderr.decode().splitlines() if line.startswith('note:')]
    assert notes == [f'note: -j {n + extra} capped to {n}, the cores online'], r.stderr.decode()
    assert f'threads: {n}\n'.encode() in r.stderr


def test_host_program_rejects_negative_threads(models_dir):
    r = generate_j(models_dir, -1)
    assert r.returncode == 1
    assert r.stdout == b''
    assert b'-j <int>' in r.stderr  # the usage


def copy_expected(size: int) -> bool:
    """The host program's conditions for copying a model of size bytes onto
    huge pages: Linux gives them to memory that asks, and has 1.5 times the
    model available."""
    try:
        mode = Path('/sys/kernel/mm/transparent_hugepage/enabled').read_text()
        Path('/sys/kernel/mm/transparent_hugepage/hpage_pmd_size').read_text()
        meminfo = Path('/proc/meminfo').read_text()
    except OSError:
        return False
    avail = re.search(r'^MemAvailable:\s+(\d+) kB', meminfo, re.M)
    return ('[' in mode and '[never]' not in mode and avail is not None
            and int(avail.group(1)) * 1024 >= size + size // 2)


def test_host_program_copies_large_models_onto_huge_pages(models_dir, tmp_path):
    """A model of 8 MB or more is copied onto huge pages where Linux has
    them and the RAM (-l auto, the default), else mapped; -l map always
    maps; the text is the same either way."""
    from llmtools import llama2c, testmodels
    from llmtools.blob import Config
    c = Config(dim=96, hidden_dim=256, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=32000, seq_len=64)
    model = tmp_path / 'big_vocab.bin'
    model.write_bytes(llama2c.write_legacy(c, testmodels.random_model(c, 7, tied=True)))
    size = model.stat().st_size
    assert size >= 8 << 20
    args = [built(PROGRAM, 'native'), model, '-z', models_dir / 'tokenizer32k.bin', '-t', '0', '-n', '40',
            '-i', 'Once upon a time']
    auto, mapped = run(args), run(args + ['-l', 'map'])
    assert auto.returncode == 0 and mapped.returncode == 0, (auto.stderr, mapped.stderr)
    assert len(auto.stdout) > len('Once upon a time') and auto.stdout == mapped.stdout
    assert f'model: {size} bytes mapped\n'.encode() in mapped.stderr
    copied = re.search(rb'model: (\d+) bytes copied onto (\d+) KB pages\n', auto.stderr)
    if copy_expected(size):
        assert copied and int(copied.group(1)) == size and int(copied.group(2)) >= 2048, auto.stderr
    else:
        assert f'model: {size} bytes mapped\n'.encode() in auto.stderr


def test_host_program_maps_small_models_and_rejects_unknown_loading(models_dir):
    args = [built(PROGRAM, 'native'), models_dir / 'stories260K.bin', '-z', models_dir / 'tok512.bin',
            '-t', '0', '-n', '8']
    r = run(args)
    assert r.returncode == 0, r.stderr.decode()
    assert f'model: {(models_dir / "stories260K.bin").stat().st_size} bytes mapped\n'.encode() in r.stderr
    bad = run(args + ['-l', 'huge'])
    assert bad.returncode == 1 and b'unknown loading: huge (auto or map)' in bad.stderr


# Chat mode: user lines on stdin; stderr reports each turn as
# "turn K: prefilled N positions, generated G, context P/S, end E".
TURN_RE = re.compile(r'turn (\d+): prefilled (\d+) positions, generated (\d+), context (\d+)/(\d+), '
                     r'end (\w+)')


def chat_run(models_dir, stdin: bytes, *args):
    r = run([built(PROGRAM, 'native'), models_dir / 'stories260K.bin', '-z', models_dir / 'tok512.bin',
             '-m', 'chat', '-t', '0'] + list(args), input=stdin)
    assert r.returncode == 0, r.stderr.decode()
    turns = [tuple(int(x) for x in m.groups()[:5]) + (m.group(6),)
             for m in TURN_RE.finditer(r.stderr.decode())]
    return r, turns


def tokenizer(models_dir):
    from llmtools.tokenizer import Tokenizer
    return Tokenizer.from_file(models_dir / 'tok512.bin')


def test_host_chat_keeps_the_conversation(models_dir):
    """The second turn runs its own tokens only (the reply's last token, its
    closing EOS when the model gave none, the new [INST] sequence), from where
    the first one left the context: no re-prefill of the conversation."""
    tok = tokenizer(models_dir)
    r, turns = chat_run(models_dir, b'Tell me a story.\nWhat did the dog do?\n', '-y', 'You tell stories.',
                        '-n', '30')
    assert b'chat template: llama2' in r.stderr
    assert len(turns) == 2, r.stderr.decode()
    (_, n1, g1, p1, seq, e1), (_, n2, g2, p2, _, e2) = turns
    first = tok.encode('[INST] <<SYS>>\nYou tell stories.\n<</SYS>>\n\nTell me a story. [/INST]', True, False)
    assert n1 == len(first)
    assert e1 == 'budget' and g1 == 30 and p1 == n1 + g1 - 1  # the last reply token waits
    second = tok.encode('[INST] What did the dog do? [/INST]', True, False)
    assert n2 - 1 - len(second) in (0, 1)  # + the waiting token, + EOS unless the reply had one
    assert n2 < p1
    assert p2 == p1 + n2 + g2 - 1
    assert r.stdout.count(b'Assistant: ') == 2 and r.stdout.count(b'User: ') == 3


def test_host_chat_asks_for_the_system_prompt(models_dir):
    """Without -y the first stdin line is the system prompt, as run.c asks."""
    tok = tokenizer(models_dir)
    r, turns = chat_run(models_dir, b'Be brief.\nHello\n', '-n', '5')
    assert r.stdout.startswith(b'Enter system prompt (optional): ')
    assert len(turns) == 1
    first = tok.encode('[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST]', True, False)
    assert turns[0][1] == len(first)


def test_host_chat_zephyr_template(models_dir):
    from llmtools.tokenizer import BOS, EOS
    tok = tokenizer(models_dir)
    r, turns = chat_run(models_dir, b'Hi\nAnd you?\n', '-T', 'zephyr', '-y', 'Sys', '-n', '8', '-i', 'First')
    assert b'chat template: zephyr' in r.stderr
    assert len(turns) == 3  # -i, then the two stdin lines
    first = ([BOS] + tok.encode('<|system|>\nSys', False, True) +
             tok.encode('\n<|user|>\nFirst', False, True, prefix=False) +
             tok.encode('\n<|assistant|>\n', False, False, prefix=False))
    assert turns[0][1] == len(first)
    later = tok.encode('\n<|user|>\nHi', False, True, prefix=False) + \
        tok.encode('\n<|assistant|>\n', False, False, prefix=False)
    assert turns[1][1] - 1 - len(later) in (0, 1)
    assert later.count(EOS) == 1 and BOS not in later  # one sequence: no BOS after the first turn


@pytest.mark.parametrize('args, why', [(['-T', 'chatml'], b'unknown chat template: chatml'),
                                       (['-c', 'wrap'], b'unknown context policy: wrap')])
def test_host_chat_rejects_bad_options(models_dir, args, why):
    r = run([built(PROGRAM, 'native'), models_dir / 'stories260K.bin', '-z', models_dir / 'tok512.bin',
             '-m', 'chat'] + args, input=b'hi\n')
    assert r.returncode == 1 and why in r.stderr


def test_host_chat_past_the_context(models_dir):
    """Eight turns need more than the 512 positions: the default policy
    shifts (the context shrinks at some turn and every turn is answered);
    -c stop ends the conversation when the context is full."""
    lines = b''.join(b'Tell me about the dog number %d.\n' % i for i in range(8))
    _, turns = chat_run(models_dir, lines, '-y', 'You tell stories.', '-n', '100')
    assert len(turns) == 8
    contexts = [t[3] for t in turns]
    assert all(c <= 512 for c in contexts) and any(b < a for a, b in zip(contexts, contexts[1:])), turns
    _, stopped = chat_run(models_dir, lines, '-y', 'You tell stories.', '-n', '100', '-c', 'stop')
    assert stopped[-1][5] == 'context' and len(stopped) < 8, stopped
