#!/usr/bin/env bash
# Install the whole workspace from the lock file into .venv (uv, pinned versions).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
UV_VERSION=0.13.9
export UV_PYTHON_DOWNLOADS=never

# The first interpreter that really runs and is 3.11+ (a pyenv shim may exist for a
# version that is not selected, and then fails when started).
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  path="$(command -v "$candidate" 2>/dev/null || true)"
  [ -n "$path" ] || continue
  if "$path" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
    python="$("$path" -c 'import sys; print(sys.executable)')"
    break
  fi
done
[ -n "$python" ] || { echo "error: Python 3.11 or newer is needed (tried python3.13, python3.12, python3.11, python3)" >&2; exit 1; }

if [ ! -x .tools/uv/bin/uv ] || [ "$(.tools/uv/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "installing uv $UV_VERSION into .tools/uv" >&2
  rm -rf .tools/uv
  "$python" -m venv .tools/uv
  .tools/uv/bin/pip install -q "uv==$UV_VERSION"
fi
.tools/uv/bin/uv sync --locked --python "$python" -q
touch .venv/.installed
