"""Accuracy of quantized weights and KV caches on stories260K, measured by the
C library on the device: teacher-forced forward passes (`teacher` command)
over a fixed TinyStories-like text written for this test (STORY below; it
is not model output, so it does not favour the fp32 model's own choices),
the first 512 tokens of it with BOS (the model's whole context, 511
predictions).

Gates: perplexity with q8 weights within 1% of fp32, with the default q4
recipe (llmtools.quant.recipe('q4'): asymmetric int4, group 32, GPTQ;
embedding int8) within 8%, with an int8 KV cache within 1% of an fp32 cache.
Top-1 agreement with the fp32 model is reported. The NumPy oracle, running
the same quantized tensors and cache type, cross-checks every device
perplexity (within 1%: the two differ only where float rounding order
flips an int8 rounding). The measured numbers are printed."""
import numpy as np
import pytest
from llmtools import blob as B
from llmtools import oracle, quant

STORY = (
    "Once upon a time, there was a little girl named Mia. She lived in a small house near a big forest. "
    "Every morning, Mia liked to look out of her window and watch the birds sing in the trees. "
    "One day, Mia saw a little brown dog sitting under a tree. The dog looked sad and hungry. "
    "Mia went outside and said, \"Hello, little dog! Are you lost?\" The dog wagged its tail and licked her hand. "
    "Mia smiled and gave the dog some bread. The dog ate it all and barked happily. "
    "Mia's mom came out of the house. \"Who is your new friend?\" she asked. "
    "\"This is Max,\" said Mia. \"He is lost and he has no home. Can he stay with us?\" "
    "Mom thought for a moment. Then she smiled and said, \"Yes, Max can stay with us.\" "
    "Mia was so happy. She hugged Max and they ran to the park to play. "
    "They played with a red ball all day long. When the sun went down, they went home and ate dinner. "
    "That night, Max slept next to Mia's bed. Mia knew that she had found a good friend. "
    "The next day, Mia and Max went for a walk in the forest. They saw a big green frog jump into a pond. "
    "Max wanted to catch the frog, but the frog was too fast. Mia laughed and said, \"Max, you are so silly!\" "
    "They walked and walked until they found a tall tree with red apples. Mia picked two apples, one for her and one for Max. "
    "They sat under the tree and ate the apples together. Mia felt happy and safe with her friend. "
    "From that day on, Mia and Max did everything together, and they were never lonely again."
)

GATES = {  # (weights, kv) -> largest allowed perplexity increase over (f32, f32)
    ('q8', 'f32'): 0.01,
    ('q4', 'f32'): 0.08,
    ('f32', 'q8'): 0.01,
}
CASES = [('f32', 'f32'), ('q8', 'f32'), ('q4', 'f32'), ('f32', 'f16'), ('f32', 'q8'), ('q8', 'q8'),
         ('q4', 'q8')]
ORACLE_RTOL = 0.01


def teacher(fw, ids):
    r = fw.command('teacher 0 ' + ','.join(map(str, ids)), timeout=300)
    assert r.ok, r
    assert r.int('n') == len(ids)
    lp = np.frombuffer(bytes.fromhex(r.fields['logprobs']), '>f4').astype(np.float64)
    top1 = np.array([int(t) for t in r.fields['top1'].split(',')])
    assert lp.shape == (len(ids) - 1,) and np.all(lp <= 1e-6) and np.all(np.isfinite(lp))
    s = np.frombuffer(bytes.fromhex(r.fields['sum']), '>f4')[0]
    assert abs(float(s) - lp.sum()) <= 1e-4 * abs(lp.sum())
    return lp, top1


def oracle_logprobs(config, weights, kv, ids):
    m = oracle.Model(config, weights, kv_type=kv)
    out = []
    for pos in range(len(ids) - 1):
        lg = m.forward(ids[pos], pos).astype(np.float64)
        mx = lg.max()
        out.append(lg[ids[pos + 1]] - mx - np.log(np.exp(lg - mx).sum()))
    return np.array(out)


@pytest.fixture(scope='module')
def measured(stories, tmp_path_factory):
    """Perplexity and top-1 ids per (weights, kv) case, device and oracle."""
    c, w = stories.config, stories.weights
    ids = stories.tokenizer.encode(STORY, True, False)[:c.seq_len]
    assert len(ids) == c.seq_len, 'the story must fill the context'
    d = tmp_path_factory.mktemp('quant_acc')
    models, paths = {'f32': w}, {}
    for name in ('q8', 'q4'):
        models[name], _ = quant.quantize_weights(c, w, quant.recipe(name))
    for name, wm in models.items():
        paths[name] = d / f'stories260K_{name}.llmb'
        paths[name].write_bytes(B.write_blob(c, wm))
    return {'config': c, 'ids': ids, 'models': models, 'paths': paths, 'results': {}}


def run_case(fw, measured, case):
    res = measured['results']
    if case not in res:
        weights, kv = case
        r = fw.model(measured['paths'][weights])
        assert r.ok, r
        i = fw.command(f'init 0 {kv}')
        assert i.ok, i
        lp, top1 = teacher(fw, measured['ids'])
        res[case] = {'lp': lp, 'top1': top1, 'ppl': float(np.exp(-lp.mean())), 'arena': i.int('need')}
    return res[case]


@pytest.mark.parametrize('case', CASES, ids=lambda c: f'{c[0]}-kv{c[1]}')
def test_device_perplexity_matches_oracle(fw, measured, case):
    got = run_case(fw, measured, case)
    c = measured['config']
    lp = oracle_logprobs(c, measured['models'][case[0]], case[1], measured['ids'])
    ppl = float(np.exp(-lp.mean()))
    got['oracle_ppl'] = ppl
    tol = 1e-5 if case == ('f32', 'f32') else ORACLE_RTOL
    assert abs(got['ppl'] / ppl - 1) <= tol, f'device {got["ppl"]:.5f}, oracle {ppl:.5f}'


def test_accuracy_gates(fw, measured, capsys):
    for case in CASES:
        run_case(fw, measured, case)
    res = measured['results']
    base = res[('f32', 'f32')]
    lines = [f'stories260K, teacher forcing over {len(measured["ids"]) - 1} predictions '
             f'(fixed text), measured on the device:',
             f'  {"weights":>7} {"kv":>4} {"perplexity":>10} {"vs fp32":>8} {"top-1 = fp32":>12} '
             f'{"oracle ppl":>10} {"arena":>8}']
    for case in CASES:
        r = res[case]
        delta = r['ppl'] / base['ppl'] - 1
        agree = float(np.mean(r['top1'][:-1] == base['top1'][:-1]))
        r['delta'], r['agree'] = delta, agree
        orc = f'{r["oracle_ppl"]:10.4f}' if 'oracle_ppl' in r else f'{"-":>10}'
        lines.append(f'  {case[0]:>7} {case[1]:>4} {r["ppl"]:10.4f} {delta * 100:+7.2f}% '
                     f'{agree * 100:11.1f}% {orc} {r["arena"]:8d}')
    with capsys.disabled():
        print('\n' + '\n'.join(lines))
    for case, limit in GATES.items():
        assert res[case]['delta'] <= limit, \
            f'{case}: perplexity {res[case]["ppl"]:.4f} is {res[case]["delta"] * 100:.2f}% over fp32'
    # Quantization loses accuracy but the model still mostly agrees with fp32.
    assert res[('q8', 'f32')]['agree'] >= 0.9
    assert res[('q4', 'f32')]['agree'] >= 0.75
    assert res[('f32', 'q8')]['agree'] >= 0.9
    # The int8 cache is what makes the full context small.
    assert res[('q8', 'q8')]['arena'] < 0.4 * res[('q8', 'f32')]['arena']


def test_headline_ram_q8_weights_q8_cache_full_context(fw, stories, tmp_path):
    """stories260K, q8 weights and an int8 KV cache over the whole 512-token
    context, tokenizer embedded: the arena leaves room for the stack (1.3 KB
    measured on the emulated Cortex-M55) and the library's static state in
    256 KB, so the model runs from the ESP32-S3's internal SRAM."""
    c, w = stories.config, stories.weights
    wq, _ = quant.quantize_weights(c, w, quant.recipe('q8'))
    p = tmp_path / 'stories260K_q8_tok.llmb'
    p.write_bytes(B.write_blob(c, wq, stories.tok_path.read_bytes()))
    assert fw.model(p).ok
    r = fw.command('init 0 q8')
    assert r.ok and r.int('seq_len') == 512 and r.int('tok_vocab') == 512, r
    need = r.int('need')
    f32 = fw.command('init 0 f32').int('need')
    budget = 256 * 1024 - 16 * 1024  # 16 KB for stack and static data
    print(f'\nstories260K q8 weights, 512 positions: arena {need} bytes with an int8 KV cache, '
          f'{f32} with an fp32 one')
    assert need <= budget, f'arena {need} bytes leaves less than 16 KB of 256 KB'
    assert f32 > 2.5 * need
