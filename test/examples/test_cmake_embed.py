"""llm_embed_model (lib/llm/llm_embed_model.cmake), the model-embedding step
for CMake and ESP-IDF users, in a plain CMake project on the host: the
README's code with the library's sources and stories260K converted at build
time prints llama2.c's story; a second build converts nothing."""
import subprocess

from helpers.golden import LLAMA2C_GREEDY_200
from helpers.package import ROOT, readme_block

CMAKE_LISTS = '''cmake_minimum_required(VERSION 3.16)
project(story C)
file(GLOB_RECURSE llm_srcs {root}/lib/llm/src/*.c)
add_executable(story main.c story.c ${{llm_srcs}})
target_include_directories(story PRIVATE {root}/lib/llm/include {root}/lib/llm/src)
target_compile_options(story PRIVATE -std=c99 -O2 -Wall -ffp-contract=off)
target_link_libraries(story PRIVATE m)
include({root}/lib/llm/llm_embed_model.cmake)
llm_embed_model(story {models}/stories260K.bin TOKENIZER {models}/tok512.bin)
'''
MAIN_C = '#include <stdio.h>\nint story(void);\nint main(void) { int s = story(); printf("\\n"); return s != 0; }\n'


def test_cmake_project_embeds_and_runs_the_model(tmp_path, models_dir):
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'CMakeLists.txt').write_text(CMAKE_LISTS.format(root=ROOT, models=models_dir))
    (src / 'story.c').write_text(readme_block('## Use it in your PlatformIO project', 'c'))
    (src / 'main.c').write_text(MAIN_C)
    build = tmp_path / 'build'
    for cmd in (['cmake', '-G', 'Ninja', '-S', src, '-B', build], ['ninja', '-C', build]):
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert 'llm: converting' in r.stdout
    run = subprocess.run([str(build / 'story')], capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout == LLAMA2C_GREEDY_200 + b'\n'
    again = subprocess.run(['ninja', '-C', str(build)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and 'no work to do' in again.stdout, again.stdout
