#!/usr/bin/env python3
"""Time to first token of a second conversational turn: the KV cache kept
against re-prefilling the whole conversation, and against restoring a saved
state (llm_state_restore) first.

A conversation of --history tokens (stories260K's tokenizer on a TinyStories
text, BOS first) is in the context; a second turn of --turn tokens arrives.
Its first token needs
  * re-prefill: llm_forward over history + turn from position 0, then the
    greedy pick (what a caller without a kept cache does);
  * kept: llm_forward over the turn only, at positions history.., then the pick;
  * restored: llm_state_restore of the state saved after the history (a
    fresh context, as after a reboot), then the same as kept.
All three must give the same next token and bit-identical logits.

It drives the device-test firmware (test/firmware, commands prefill,
state_save, state_restore), whose own timer times each step:
  * host: .pio/build/native_test/program (pio run -e native_test), process
    CPU time (clock()), median of --runs;
  * m55: the test firmware ELF (pio run -e m55_test) in qemu-system-arm
    -M mps3-an547 -icount shift=0, where 1 us of emulated time is 1000
    instructions: counts are exact (to 1000) and repeat run after run. QEMU
    counts a Helium instruction as one; bench_m55.py weights them.

    python extra_scripts/bench/bench_ttft.py                 # host and m55, KV f32/f16/q8
    python extra_scripts/bench/bench_ttft.py --targets host --runs 9

Needs LLM_MODELS_DIR (stories260K.bin, tok512.bin) and, for m55,
qemu-system-arm. Builds nothing itself.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extra_scripts"))

from llmtools import llama2c  # noqa: E402
from llmtools.tokenizer import Tokenizer  # noqa: E402

from bench_host import cpu_name  # noqa: E402  (beside this script)

HISTORY_TEXT = (
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big, red ball. She wanted to play with it, but it was too high. Lily's mom "
    "came and helped her get the ball. They played together all day and had so much fun. When the "
    "sun went down, they went home and ate dinner. Lily was very happy. The next day, Lily went to "
    "the park again. She saw a boy named Tom. Tom had a little dog. The dog was brown and white and "
    "liked to run. Lily and Tom played with the dog and the ball. They laughed and ran until they "
    "were tired. Then they sat under a big tree and talked about their favorite toys. ")
TURN_TEXT = ' Lily asked Tom, "Can your dog come to my house tomorrow?" Tom smiled and said'


def die(msg):
    sys.exit("bench_ttft: error: " + msg)


class Fw:
    """The test firmware's line protocol over pipes (fw_main.c)."""

    def __init__(self, cmd: list):
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, cwd=ROOT)
        line = self.p.stdout.readline()
        if not line.startswith(b"ready"):
            die(f"{' '.join(cmd)} did not start: {line!r}")

    def __call__(self, line: str) -> dict:
        word = line.split(" ", 1)[0]
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        while True:
            out = self.p.stdout.readline()
            if not out:
                die(f"firmware exited during {word}")
            parts = out.decode(errors="replace").split()
            if len(parts) >= 2 and parts[0] == word and parts[1].startswith("LLM_"):
                break
        f = dict(t.split("=", 1) for t in parts[2:] if "=" in t)
        f["status"] = parts[1]
        if parts[1] != "LLM_OK":
            die(f"{line[:80]}: {out.decode(errors='replace').strip()[:300]}")
        return f

    def close(self):
        try:
            self.p.stdin.write(b"quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


def ids_arg(ids) -> str:
    return ",".join(str(int(t)) for t in ids)


def one_run(fw: Fw, kv: str, history: list, turn: list) -> dict:
    """Microseconds of each way to the turn's first token."""
    n = len(history)
    fw(f"init 0 {kv}")
    full = fw(f"prefill 0 {ids_arg(history + turn)}")
    fw(f"init 0 {kv}")
    fw(f"prefill 0 {ids_arg(history)}")  # the first turn, already paid for
    save = fw(f"state_save {n}")
    kept = fw(f"prefill {n} {ids_arg(turn)}")
    fw(f"init 0 {kv}")  # a fresh context, as after a reboot
    rest = fw("state_restore")
    if int(rest["n_pos"]) != n:
        die(f"restored {rest['n_pos']} positions, saved {n}")
    after = fw(f"prefill {n} {ids_arg(turn)}")
    for name, r in (("kept", kept), ("restored", after)):
        if r["next"] != full["next"] or r["logits"] != full["logits"]:
            die(f"{kv}: the {name} cache's first token or logits differ from re-prefilling")
    return {"full": int(full["us"]), "kept": int(kept["us"]), "restore": int(rest["us"]),
            "restored": int(rest["us"]) + int(after["us"]), "save": int(save["us"]),
            "state_bytes": int(save["written"]), "next": int(full["next"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default="host,m55", help="comma-separated: host, m55")
    ap.add_argument("--kv", default="f32,f16,q8", help="KV cache types, comma-separated")
    ap.add_argument("--history", type=int, default=200, help="tokens already in the context")
    ap.add_argument("--turn", type=int, default=0, help="tokens of the new turn (0: all of its text)")
    ap.add_argument("--runs", type=int, default=5, help="host runs (median); m55 runs once")
    ap.add_argument("--host-firmware", default=str(ROOT / ".pio/build/native_test/program"))
    ap.add_argument("--m55-firmware", default=str(ROOT / ".pio/build/m55_test/firmware.elf"))
    ap.add_argument("--qemu", default=os.environ.get("LLM_QEMU", "qemu-system-arm"))
    a = ap.parse_args()

    models = os.environ.get("LLM_MODELS_DIR")
    if not models:
        die("set LLM_MODELS_DIR to the directory holding stories260K.bin and tok512.bin")
    model = Path(models).resolve() / "stories260K.bin"
    tok_path = Path(models).resolve() / "tok512.bin"
    config, _ = llama2c.read_checkpoint(model.read_bytes())
    tok = Tokenizer(tok_path.read_bytes(), config.vocab_size)
    history = tok.encode(HISTORY_TEXT * 2, True, False)[:a.history]
    turn = tok.encode(TURN_TEXT, False, False)
    turn = turn[:a.turn] if a.turn else turn
    if len(history) != a.history or a.history + len(turn) > config.seq_len:
        die(f"history {len(history)} + turn {len(turn)} tokens do not fit as asked")

    print(f"stories260K, {len(history)}-token history, {len(turn)}-token second turn, greedy first token")
    print("command: python extra_scripts/bench/bench_ttft.py " + " ".join(sys.argv[1:]))
    for target in a.targets.split(","):
        if target == "host":
            fw_path, cmd = a.host_firmware, [a.host_firmware]
            unit, scale, runs = "us (CPU)", 1, a.runs
            where = f"host: {cpu_name()}, {platform.system()} {platform.release()}, {fw_path}"
        elif target == "m55":
            fw_path = a.m55_firmware
            cmd = [a.qemu, "-M", "mps3-an547", "-nographic", "-monitor", "none", "-serial", "none",
                   "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                   "-kernel", fw_path]
            unit, scale, runs = "instructions", 1000, 1
            where = f"m55: Cortex-M55 (Helium) in {a.qemu} -M mps3-an547 -icount shift=0, {fw_path}"
        else:
            die(f"unknown target {target!r}")
        if not Path(fw_path).exists():
            die(f"{fw_path} not built (pio run -e {'native_test' if target == 'host' else 'm55_test'})")
        print(f"\n{where}")
        fw = Fw(cmd)
        try:
            fw(f"model {model}")
            fw(f"tok {tok_path}")
            print(f"{'kv':4} {'re-prefill':>14} {'kept':>12} {'ratio':>7} "
                  f"{'restored':>12} {'ratio':>7} {'(restore':>12} {'state bytes)':>13}  [{unit}]")
            for kv in a.kv.split(","):
                rs = [one_run(fw, kv, history, turn) for _ in range(runs)]
                med = {k: statistics.median(r[k] for r in rs) * scale for k in rs[0]}
                print(f"{kv:4} {med['full']:>14,.0f} {med['kept']:>12,.0f} "
                      f"{med['full'] / max(med['kept'], 1):>6.1f}x {med['restored']:>12,.0f} "
                      f"{med['full'] / max(med['restored'], 1):>6.1f}x {med['restore']:>12,.0f} "
                      f"{rs[0]['state_bytes']:>13,}")
        finally:
            fw.close()
    print("\nratio: re-prefill / kept (or / restored); restored = llm_state_restore + the turn's "
          "prefill; every way gave the same first token and bit-identical logits")


if __name__ == "__main__":
    main()
