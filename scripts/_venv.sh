# Sourced by scripts/serve and scripts/test: create or update ./.venv from the pinned
# dependencies (pyproject.toml + requirements.lock), reinstalling only when they change.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AGIO_VENV:-$ROOT/.venv}"

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "Agio needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {  # $1: "run" or "dev"
  local extra="$1" py stamp want spec
  if [ ! -x "$VENV/bin/python" ]; then
    py="$(find_python)"
    echo "agio: creating virtual environment in $VENV" >&2
    "$py" -m venv "$VENV"
  fi
  want="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.lock" | "$VENV/bin/python" -c \
    'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
  stamp="$VENV/.agio-$extra.stamp"
  # the dev install holds everything the server needs too
  if [ "$extra" = "run" ] && [ -f "$VENV/.agio-dev.stamp" ] &&
     [ "$(cat "$VENV/.agio-dev.stamp")" = "$want" ]; then
    return 0
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    spec="$ROOT"
    [ "$extra" = "dev" ] && spec="$ROOT[dev]"
    echo "agio: installing pinned dependencies ($extra) into $VENV ..." >&2
    local log="$VENV/install.log"
    if ! { "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip &&
           "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
             -c "$ROOT/requirements.lock" -e "$spec"; } >"$log" 2>&1; then
      echo "agio: dependency installation failed; the log follows ($log)" >&2
      cat "$log" >&2
      return 1
    fi
    echo "$want" >"$stamp"
  fi
}
