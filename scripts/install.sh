#!/usr/bin/env bash
# Install the whole workspace from the lock file into .venv (uv, pinned versions).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
UV_VERSION=0.13.9
export UV_PYTHON_DOWNLOADS=never

python="$(command -v python3.13 || command -v python3.12 || command -v python3.11 || command -v python3 || true)"
[ -n "$python" ] || { echo "error: Python 3.11 or newer is needed" >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "error: Python 3.11 or newer is needed, found $("$python" --version)" >&2; exit 1; }

if [ ! -x .tools/uv/bin/uv ] || [ "$(.tools/uv/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "installing uv $UV_VERSION into .tools/uv" >&2
  rm -rf .tools/uv
  "$python" -m venv .tools/uv
  .tools/uv/bin/pip install -q "uv==$UV_VERSION"
fi
.tools/uv/bin/uv sync --locked --python "$python" -q
touch .venv/.installed
