#!/usr/bin/env bash
# A GPU server with no package registry: fetch, on a machine that has one, the wheels the workbench needs
# beyond a pinned vLLM/Unsloth/TRL wheelhouse, and install both there.
#
#   bash tools/offline-gpu-wheels.sh [DIR]         # here: downloads into DIR (default .whl)
#   bash DIR/install.sh WHEELHOUSE [TARGET]        # there: installs WHEELHOUSE/*.whl + DIR/*.whl
#
# Why these: vLLM 0.24's OpenAI server (what `grpo-workbench serve` starts on a GPU) imports
# model_hosting_container_standards (with jmespath and supervisor), and the OpenAI SDK 3.x (the chat
# client) imports truststore through httpcore2 when it builds a client; training needs neither, so a
# wheelhouse that trained fine failed at the first chat on an H200. tomli-w is the workbench's own
# (saving configs). Python 3.12, x86-64, as on the H200 image.
set -euo pipefail
dir="${1:-.whl}"
mkdir -p "$dir"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$dir" \
    model_hosting_container_standards==0.1.16 jmespath==1.1.0 supervisor==4.3.0 truststore==0.10.5 \
    tomli-w==1.2.0 2>&1 | grep -v '^WARNING: Location' || true
cat > "$dir/install.sh" <<'EOS'
#!/usr/bin/env bash
# Install a wheelhouse (split wheels NAME.whl.partNN joined first) and the extra wheels beside this script.
set -euo pipefail
house="${1:?give the wheelhouse folder}"; target="${2:-/tmp/site}"; here="$(cd "$(dirname "$0")" && pwd)"
( cd "$house" && for b in $(ls *.part00 2>/dev/null | sed 's/.part00$//'); do cat "$b".part* > "$b" && rm "$b".part*; done )
python3 -m pip install -q --no-index --no-deps --no-compile --target "$target" "$house"/*.whl
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$target" "$here"/*.whl
echo "installed into $target: export PYTHONPATH=$target HF_HUB_OFFLINE=1"
PYTHONPATH="$target" python3 -c "import vllm.entrypoints.openai.api_server, trl, tomli_w, openai
openai.AsyncOpenAI(api_key='x', base_url='http://127.0.0.1:9/v1'); print('vLLM server and chat client import')"
EOS
ls "$dir"
