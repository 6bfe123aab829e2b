"""Where the PlatformIO extra scripts find model files (stdlib only).

A relative name in `custom_llm_model` / `custom_llm_tokenizer` is looked up
in the project directory, then in $LLM_MODELS_DIR, then in the download cache
of `python -m llmtools download` ($XDG_CACHE_HOME or ~/.cache, llm-mcu/).
So platformio.ini can say `custom_llm_model = stories260K.bin` with no
${sysenv.X}: interpolating the environment there would change PlatformIO's
project checksum whenever it changes, and a changed checksum wipes every
build of the project.
"""
import os

HINT = ("stories260K.bin and tok512.bin come from Hugging Face karpathy/tinyllamas "
        "(folder stories260K); `python -m llmtools download` fetches them. Point the "
        "option at the file, or set LLM_MODELS_DIR to the folder holding it.")


def candidates(value, project_dir):
    """The paths tried for an option value, in order."""
    if os.path.isabs(value):
        return [value]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    dirs = [project_dir, os.environ.get("LLM_MODELS_DIR"), os.path.join(cache, "llm-mcu")]
    return [os.path.normpath(os.path.join(d, value)) for d in dirs if d]


def find(value, project_dir):
    """(path, None) for the first existing candidate, else (None, message)."""
    places = candidates(value, project_dir)
    for path in places:
        if os.path.isfile(path):
            return path, None
    return None, "%s: not found (looked at %s). %s" % (value, ", ".join(places), HINT)


def option(env, name, required, fail):
    """The file named by the project option `name` of a PlatformIO env, found
    as above; None when unset and not required. fail(msg) reports errors."""
    value = env.GetProjectOption(name, "").strip()
    if not value:
        if required:
            fail("set %s in [env:%s]. %s" % (name, env["PIOENV"], HINT))
        return None
    path, problem = find(value, env.subst("$PROJECT_DIR"))
    if problem:
        fail("%s = %s" % (name, problem))
    return path
