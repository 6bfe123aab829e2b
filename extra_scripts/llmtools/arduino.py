"""llm-arduino-pack: the library as an Arduino library zip (1.5 library spec).

    llm-arduino-pack stories260K.bin --tokenizer tok512.bin --weights q8 \\
        --url https://github.com/<you>/llm-mcu -o llm-mcu.zip

The zip holds one folder, llm-mcu/, laid out as the Arduino IDE and
arduino-cli expect a 1.5-format library:

    library.properties      name, version, sentence, ... (from library.json)
    src/                    compiled recursively; the only include path, so
                            the public headers sit at its top (llm.h,
                            llm_config.h, llm_port_esp32s3.h, ...) with
                            lib/llm/src's files and folders beside them, and
                            the ESP32-S3 port in src/llm_port_esp32s3/ (its
                            sources build only on ESP32 cores: ESP_PLATFORM)
    examples/Story/         Story.ino and llm_model_blob.h, the model as a
                            16-byte-aligned const array (flash on ESP32 and
                            Arm cores)
    LICENSE

The model is an llm blob, put in as it is, or a llama2.c checkpoint,
converted first as `llm-convert` does.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

NAME = "llm-mcu"
SOURCE_SUFFIXES = (".c", ".h", ".S")

SKETCH = r"""// Story: stories-style text from the model in llm_model_blob.h, streamed
// to Serial. Greedy (temperature 0) prints what llama2.c's run.c prints.
#include <Arduino.h>
#include <llm.h>
#include <stdlib.h>

#include "llm_model_blob.h"  // written by llm-arduino-pack

static llm_model model;
static llm_ctx ctx;

static int on_piece(const char *s, size_t n, void *user) {
    (void)user;
    Serial.write(reinterpret_cast<const uint8_t *>(s), n);
    return 0;
}

static void story() {
    llm_status s = llm_model_open(&model, llm_model_blob, llm_model_blob_size);
    if (s != LLM_OK) { Serial.println(llm_status_str(s)); return; }
    llm_params p = llm_params_default();
    p.seq_len = 256;  // a shorter context needs less RAM
    size_t need = 0;
    llm_arena_size(&model, &p, &need);
    // The library never allocates: the sketch gives it one buffer.
    void *arena = aligned_alloc(16, (need + 15) / 16 * 16);
    if (!arena) { Serial.println("no memory for the arena"); return; }
    if ((s = llm_init(&ctx, &model, &p, arena, need)) != LLM_OK) { Serial.println(llm_status_str(s)); return; }
    llm_sampler_params sp = llm_sampler_default();
    sp.temperature = 0.0f;
    llm_sampler_set(&ctx, &sp);
    llm_gen_params g = {};
    g.prompt = "Once upon a time";
    g.n_steps = 200;  // positions, prompt included
    g.echo_prompt = 1;
    g.on_piece = on_piece;
    llm_gen_stats st;
    s = llm_generate(&ctx, &g, &st);
    Serial.println();
    if (s != LLM_OK) Serial.println(llm_status_str(s));
    free(arena);
}

void setup() {
    Serial.begin(115200);
    story();
}

void loop() {}
"""


class PackError(Exception):
    """A source tree or model the command cannot use (exit status 2)."""


def default_source() -> Path:
    """The tree this package sits in (extra_scripts/llmtools -> the root)."""
    return Path(__file__).resolve().parents[2]


def library_files(root: Path) -> dict[str, Path]:
    """Zip name -> file of the library's sources in the Arduino layout."""
    lib = root / "lib"
    if not (lib / "llm" / "include" / "llm.h").is_file():
        raise PackError(f"{root} is not the llm library's source tree (no lib/llm/include/llm.h)")
    out: dict[str, Path] = {}
    trees = [(lib / "llm" / "include", ""), (lib / "llm" / "src", ""),
             (lib / "llm_port_esp32s3" / "include", ""),
             (lib / "llm_port_esp32s3" / "src", "llm_port_esp32s3/")]
    for top, prefix in trees:
        for f in sorted(top.rglob("*")):
            if f.is_file() and f.suffix in SOURCE_SUFFIXES:
                name = f"src/{prefix}{f.relative_to(top).as_posix()}"
                if name in out:
                    raise PackError(f"{f} and {out[name]} would both be {name}")
                out[name] = f
    return out


def _manifest(root: Path) -> dict:
    return json.loads((root / "library.json").read_text(encoding="utf-8"))


def project_url(root: Path, url: str | None = None) -> str:
    """library.properties' url: the given one, else library.json's homepage,
    else its repository's url. The Arduino library specification requires
    the field (the page Library Manager's "More info" opens) and the Library
    Manager indexer rejects it empty; a tree that names no page needs --url
    rather than a made-up address."""
    if not url:
        manifest = _manifest(root)
        url = manifest.get("homepage") or (manifest.get("repository") or {}).get("url", "")
    if not url:
        raise PackError(f"library.properties needs a url (required by the Arduino library "
                        f"specification) and {root / 'library.json'} names no homepage or "
                        f"repository: pass --url with the page where you publish the library")
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PackError(f"library.properties url must be an http(s) address, not {url!r}")
    return url


def properties(root: Path, url: str) -> str:
    manifest = _manifest(root)
    sentence = manifest["description"].split(":")[0].rstrip(".") + "."
    lines = [
        f"name={NAME}",
        f"version={manifest['version']}",
        "author=llm-mcu contributors",
        "maintainer=llm-mcu contributors",
        f"sentence={sentence}",
        f"paragraph={manifest['description']}",
        "category=Data Processing",
        f"url={url}",
        "architectures=*",
        "includes=llm.h",
    ]
    return "\n".join(lines) + "\n"


def model_header(blob: bytes, source: str) -> str:
    rows = [", ".join(f"0x{b:02x}" for b in blob[i:i + 16]) for i in range(0, len(blob), 16)]
    body = ",\n    ".join(rows)
    return (f"/* Generated by llm-arduino-pack from {source}; do not edit.\n"
            f" * Include it in one file only: it defines the model. */\n"
            "#ifndef LLM_MODEL_BLOB_H\n#define LLM_MODEL_BLOB_H\n\n"
            "#include <stddef.h>\n#include <stdint.h>\n\n"
            f"/* ({len(blob)}) bytes: the llm blob, 16-byte aligned, read-only. */\n"
            "static const uint8_t llm_model_blob[] __attribute__((aligned(16))) = {\n"
            f"    {body}\n}};\n"
            "static const size_t llm_model_blob_size = sizeof llm_model_blob;\n\n"
            "#endif /* LLM_MODEL_BLOB_H */\n")


def write_zip(out: Path, root: Path, blob: bytes, model_name: str, url: str) -> int:
    """The zip at out (written whole or not at all); returns its file count."""
    files = library_files(root)
    texts = {"library.properties": properties(root, url),
             "examples/Story/Story.ino": SKETCH,
             "examples/Story/llm_model_blob.h": model_header(blob, model_name)}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".part", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in texts.items():
                z.writestr(f"{NAME}/{name}", text)
            for name, path in files.items():
                z.write(path, f"{NAME}/{name}")
            if (root / "LICENSE").is_file():
                z.write(root / "LICENSE", f"{NAME}/LICENSE")
        os.replace(tmp, out)
        tmp = None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    return len(files) + len(texts) + 1


def add_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Write the llm library as an Arduino library zip (1.5 format: "
                     "library.properties, src/, examples/Story with the model as a header).")
    p.add_argument("model", help="llm blob, or llama2.c checkpoint to convert")
    p.add_argument("-t", "--tokenizer", help="tokenizer.bin to embed when converting")
    p.add_argument("--weights", choices=["f32", "q8", "q4"], default="f32",
                   help="weight type when converting (default: %(default)s)")
    p.add_argument("-o", "--output", default=f"{NAME}-arduino.zip", help="zip to write")
    p.add_argument("--url", help="library.properties url, the library's web page (default: "
                   "library.json's homepage or repository url; required when it has neither)")
    p.add_argument("--source", type=Path, default=None,
                   help="the library's source tree (default: the one holding this llmtools)")
