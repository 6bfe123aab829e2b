"""Model conversion for the PlatformIO build scripts (stdlib only, no SCons).

embed_model.py and esp32s3_flash_model.py turn a llama2.c checkpoint named
by `custom_llm_model` into an llm blob with `python -m llmtools convert`
while the build is configured, so that a bad file stops the build with one
line naming the option at fault, and so that a build where nothing changed
converts nothing: the blob is remade only when it is missing, older than the
checkpoint, the tokenizer or the converter's sources, or was made from other
files or options (recorded beside it in <blob>.args).
"""
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)  # extra_scripts, which holds llmtools
LLMTOOLS = os.path.join(SCRIPTS, "llmtools")
DEPENDENCIES = ("numpy", "tqdm")  # what llmtools imports (extra_scripts/llmtools/pyproject.toml)


class ConvertError(Exception):
    """A conversion that failed; option is the project option at fault."""

    def __init__(self, option, message):
        super().__init__("%s: %s" % (option, message))
        self.option = option
        self.message = message


def _inputs(model, tokenizer):
    sources = sorted(os.path.join(LLMTOOLS, n) for n in os.listdir(LLMTOOLS) if n.endswith(".py"))
    return [model] + ([tokenizer] if tokenizer else []) + sources


def _record(model, tokenizer, args):
    return "\n".join([model, tokenizer or ""] + list(args)) + "\n"


def is_fresh(model, tokenizer, out, args):
    stamp = out + ".args"
    if not (os.path.isfile(out) and os.path.isfile(stamp)):
        return False
    with open(stamp, encoding="utf-8") as f:
        if f.read() != _record(model, tokenizer, args):
            return False
    made = os.path.getmtime(out)
    return all(os.path.getmtime(p) <= made for p in _inputs(model, tokenizer))


def _ensure_dependencies(python, say):
    """PlatformIO's own Python may lack NumPy: install it once, as nanopb's
    generator installs protobuf."""
    check = [python, "-c", "import " + ", ".join(DEPENDENCIES)]
    if subprocess.call(check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
        return
    say("llm: installing %s into %s for llm-convert" % (" and ".join(DEPENDENCIES), python))
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + list(DEPENDENCIES)
    if subprocess.call(pip) != 0 or subprocess.call(check) != 0:
        raise ConvertError("custom_llm_model", "converting a llama2.c checkpoint needs %s in "
                           "PlatformIO's Python and `%s` failed; install them by hand or give "
                           "an llm blob (llm-convert) instead" % (" and ".join(DEPENDENCIES), " ".join(pip)))


def _error_line(stderr):
    """The converter's `llm-convert: error: ...` line, without the prefix."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ": error: " in ln:
            return ln.split(": error: ", 1)[1]
    return lines[-1] if lines else "failed without a message"


def _option_at_fault(message, stderr, tokenizer):
    if "usage:" in stderr or message.startswith("--") or "unrecognized arguments" in message:
        return "custom_llm_convert_args"
    if "LLM_ERR_TOKENIZER" in message or (tokenizer and tokenizer in message):
        return "custom_llm_tokenizer"
    return "custom_llm_model"


def convert(python, model, tokenizer, out, args, say=print):
    """Make the blob out from model (+ tokenizer) with llm-convert's extra
    args unless it is fresh. True when it converted; ConvertError on failure."""
    args = list(args)
    if is_fresh(model, tokenizer, out, args):
        return False
    _ensure_dependencies(python, say)
    cmd = [python, "-m", "llmtools", "convert", model, "-o", out, "--no-progress"]
    if tokenizer:
        cmd += ["--tokenizer", tokenizer]
    cmd += args
    run_env = dict(os.environ)
    run_env["PYTHONPATH"] = os.pathsep.join(filter(None, [SCRIPTS, run_env.get("PYTHONPATH")]))
    say("llm: converting %s%s%s -> %s" % (
        os.path.basename(model), " with tokenizer " + os.path.basename(tokenizer) if tokenizer else "",
        " (%s)" % " ".join(args) if args else "", out))
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=run_env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        message = _error_line(r.stderr)
        raise ConvertError(_option_at_fault(message, r.stderr, tokenizer), message)
    with open(out + ".args", "w", encoding="utf-8") as f:
        f.write(_record(model, tokenizer, args))
    for line in r.stdout.splitlines():
        say("  " + line)
    say("llm: converted in %.1f s, %d bytes" % (time.monotonic() - t0, os.path.getsize(out)))
    return True

