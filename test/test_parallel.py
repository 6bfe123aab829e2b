"""The split of llm_forward's work over workers (llm_port.parallel_for).

The split rule (llm_parallel_range) is checked for every small count,
including counts below the number of workers; the firmware's hook then runs
the library's jobs over real threads (the POSIX pool on the host, both cores
on an ESP32-S3) or, where a target has no threads, one range after another in
reverse order. Either way every item must be visited exactly once, and
mat-vec rows, attention heads, whole forward passes and generated text must
be bit-identical to one worker: each row and head is computed by the same
kernel call whatever the split.
"""
import numpy as np
import pytest
from llmtools.blob import Config

from helpers.models import write_model
from qemu_target import elf_machine

WORKER_COUNTS = [1, 2, 3, 4, 7, 8, 64]
SPLIT_COUNTS = list(range(0, 20)) + [31, 64, 65, 172, 512, 1000003]


@pytest.fixture(scope='session')
def an521(request, llm_target) -> bool:
    """The firmware is the MPS2 AN521's (two Cortex-M33 cores)."""
    return llm_target == 'qemu' and elf_machine(request.config.getoption('llm_firmware')) == 'mps2-an521'


@pytest.fixture
def par(fw, an521):
    """The firmware, back to one worker after the test."""
    fw.is_an521 = an521
    yield fw
    r = fw.command('workers 1')
    assert r.ok and r.int('workers') == 1, r


def set_workers(fw, llm_target, n: int, seq: bool = False, mode: str = ''):
    r = fw.command(f'workers {n}{" seq" if seq else ""}{" " + mode if mode else ""}')
    assert r.ok and r.int('workers') == n, r
    if seq or n == 1:
        assert r.int('threads') == 0, r
    elif llm_target == 'host':
        assert r.int('threads') == 1, f'the host firmware should run {n} threads: {r}'
    elif llm_target == 'esp32s3-qemu' and n == 2:
        assert r.int('threads') == 1, f'the ESP32-S3 firmware should run on both cores: {r}'
    elif n == 2 and fw.is_an521:
        assert r.int('threads') == 1, f'the AN521 firmware should run on both cores: {r}'
    return r


def ranges(fw, n: int, workers: int):
    r = fw.command(f'parallel split {n} {workers}')
    assert r.ok, r
    begin = [int(v) for v in r.fields['begin'].split(',')]
    end = [int(v) for v in r.fields['end'].split(',')]
    return list(zip(begin, end))


@pytest.mark.parametrize('workers', WORKER_COUNTS)
def test_split_rule(par, workers):
    for n in SPLIT_COUNTS:
        rs = ranges(par, n, workers)
        assert len(rs) == workers
        sizes = [e - b for b, e in rs]
        # Contiguous, in worker order, covering 0..n-1 exactly.
        assert rs[0][0] == 0 and rs[-1][1] == n, (n, rs)
        assert all(rs[w][1] == rs[w + 1][0] for w in range(workers - 1)), (n, rs)
        assert all(s >= 0 for s in sizes), (n, rs)
        # Balanced: sizes n // workers or one more, the larger first.
        assert all(s in (n // workers, n // workers + 1) for s in sizes), (n, rs)
        assert sizes == sorted(sizes, reverse=True), (n, rs)
        # Fewer items than workers: one item each, then empty ranges.
        if n < workers:
            assert sizes == [1] * n + [0] * (workers - n), (n, rs)


def test_split_zero_workers_is_one(par):
    assert ranges(par, 9, 0) == [(0, 9)]


@pytest.mark.parametrize('seq', [False, True], ids=['threads', 'sequential'])
@pytest.mark.parametrize('workers', [2, 3, 4, 8])
def test_every_item_once(par, llm_target, workers, seq):
    set_workers(par, llm_target, workers, seq)
    for n in [0, 1, 2, 3, 5, 7, 8, 9, 64, 129]:
        r = par.command(f'parallel cover {n}')
        assert r.ok, r
        counts = [] if r.fields['counts'] == '-' else [int(v) for v in r.fields['counts'].split(',')]
        assert counts == [1] * n, f'n={n}: visits {counts}'


@pytest.mark.parametrize('workers', [2, 4])
def test_many_small_jobs_in_a_row(par, llm_target, workers):
    """Jobs of a few microseconds back to back, as a small model's forward
    pass makes them: every item of every job is visited once, and no job
    waits forever for a wake-up that was lost (the reply would not come).
    Under qemu-aarch64 a lost wake-up hung the caller within 100000 such
    jobs; real threads (the host) run many, the emulated boards fewer."""
    set_workers(par, llm_target, workers)
    jobs, n = (200000 if llm_target == 'host' else 20000), 64
    r = par.command(f'parallel cover {n} {jobs} 100', timeout=60)
    assert r.ok, r
    assert r.fields['counts'] == ','.join([str(jobs)] * n), r
    if llm_target == 'host':
        # The adaptive mode's paths too: jobs too short to wake a worker
        # (10 steps per item, about 1 us) and longer ones that do.
        set_workers(par, llm_target, workers, mode='adapt')
        for work in (10, 100):
            r = par.command(f'parallel cover {n} {jobs} {work}', timeout=60)
            assert r.ok, r
            assert r.fields['counts'] == ','.join([str(jobs)] * n), (work, r)


# (100, 288): one call streams its rows on x86, the blocks of 2 or more workers
# may take the eight-row path.
MATVEC_DIMS = [(1, 4), (2, 3), (3, 64), (5, 17), (7, 172), (64, 64), (172, 64), (129, 33), (512, 64),
               (100, 288)]


@pytest.mark.parametrize('workers', [2, 3, 4, 8])
def test_matvec_rows_split_bit_identical(par, llm_target, workers):
    set_workers(par, llm_target, workers)
    for d, n in MATVEC_DIMS:
        r = par.command(f'parallel matvec {d} {n} {d * 1000 + n}')
        assert r.ok, r
        k, ref = r.fields['k'], r.fields['ref']
        assert len(k) == 8 * d
        assert k == ref, f'{d}x{n}: rows split over {workers} workers differ from one call'


# Models whose head counts and widths are smaller than some worker counts.
CONFIGS = {
    'one_head': Config(dim=8, hidden_dim=3, n_layers=2, n_heads=1, n_kv_heads=1, vocab_size=5, seq_len=6),
    'gqa_h37': Config(dim=16, hidden_dim=37, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, seq_len=8),
    'gqa6': Config(dim=24, hidden_dim=172, n_layers=2, n_heads=6, n_kv_heads=3, vocab_size=97, seq_len=7),
}


def forward_bits(fw, tokens) -> list[bytes]:
    out = []
    for pos, tok in enumerate(tokens):
        status, logits = fw.forward(int(tok), pos)
        assert status == 'LLM_OK', f'pos {pos}: {status}'
        out.append(logits.tobytes())
    return out


@pytest.mark.parametrize('name', CONFIGS)
def test_forward_split_bit_identical(par, llm_target, tmp_path, name):
    c = CONFIGS[name]
    m = write_model(tmp_path, c, seed=5, tied=False)
    tokens = np.random.default_rng(7).integers(0, c.vocab_size, c.seq_len)
    par.load(m.path)
    set_workers(par, llm_target, 1)
    want = forward_bits(par, tokens)
    for workers, seq in [(2, False), (3, False), (8, False), (5, True)]:
        set_workers(par, llm_target, workers, seq)
        assert par.init(0).ok
        got = forward_bits(par, tokens)
        for pos, (g, w) in enumerate(zip(got, want)):
            assert g == w, f'{workers} workers{" (sequential)" if seq else ""}: logits at pos {pos} differ'


def test_stories260k_split_bit_identical(par, llm_target, stories):
    par.load(stories.model_path, seq_len=64, tok=stories.tok_path)
    tokens = [1] + stories.tokenizer.encode('Once upon a time', bos=False, eos=False)
    tokens += list(np.random.default_rng(3).integers(3, 512, 24 - len(tokens)))
    set_workers(par, llm_target, 1)
    want = forward_bits(par, tokens)
    text1 = par.generate(b'Once upon a time', n_steps=64, temperature=0.0)
    for workers in (2, 4):
        set_workers(par, llm_target, workers)
        assert par.init(64).ok
        assert forward_bits(par, tokens) == want, f'{workers} workers: logits differ'
        assert par.init(64).ok
        got = par.generate(b'Once upon a time', n_steps=64, temperature=0.0)
        assert got.status == 'LLM_OK' and got.text == text1.text, f'{workers} workers: text differs'
        # Sampling draws the same tokens too: the logits are the same bits.
        assert par.init(64).ok
        a = par.generate(b'Once', n_steps=48, temperature=1.0, top_p=0.9, seed=11)
        set_workers(par, llm_target, 1)
        assert par.init(64).ok
        b = par.generate(b'Once', n_steps=48, temperature=1.0, top_p=0.9, seed=11)
        assert a.text == b.text
    assert text1.text.startswith(b'Once upon a time')


def core_items(fw):
    r = fw.command('parallel cores')
    assert r.ok, r
    return [int(v) for v in r.fields['items'].split(',')]


def test_both_cores_do_work(par, llm_target, stories):
    """On the ESP32-S3 and the AN521 the firmware's own counters show each
    core ran about half of the mat-vec rows and attention heads, and the
    second core none with one worker; elsewhere the command says there are
    no per-core counters."""
    if not (par.is_an521 or llm_target in ('esp32s3-qemu', 'serial')):
        with pytest.raises(AssertionError, match='fw_error=no_cores'):
            par.command('parallel cores')
        return
    par.load(stories.model_path, seq_len=64, tok=stories.tok_path)
    core_items(par)  # start counting here
    set_workers(par, llm_target, 1)
    forward_bits(par, [1, 403, 407])
    assert core_items(par) == [0, 0]  # one worker: the port's parallel_for is not used
    set_workers(par, llm_target, 2)
    assert par.init(64).ok
    forward_bits(par, [1, 403, 407])
    main, worker = core_items(par)
    assert worker > 0 and main > 0, (main, worker)
    assert abs(main - worker) <= (main + worker) // 10, (main, worker)


@pytest.mark.llm_targets('host')
@pytest.mark.parametrize('workers', [2, 8])
def test_adaptive_pool_bit_identical(par, llm_target, stories, workers):
    """The host pool's adaptive mode runs each kind of job on the pool or on
    the caller as its timings decide (each is tried at least once): logits
    and text stay those of one worker whichever it picks."""
    par.load(stories.model_path, seq_len=128, tok=stories.tok_path)
    tokens = [1] + list(np.random.default_rng(4).integers(3, 512, 40))
    set_workers(par, llm_target, 1)
    want = forward_bits(par, tokens)
    text1 = par.generate(b'Once upon a time', n_steps=128, temperature=0.0)
    set_workers(par, llm_target, workers, mode='adapt')
    assert par.init(128).ok
    assert forward_bits(par, tokens) == want, f'{workers} workers, adaptive: logits differ'
    assert par.init(128).ok
    got = par.generate(b'Once upon a time', n_steps=128, temperature=0.0)
    assert got.status == 'LLM_OK' and got.text == text1.text
