# Sourced by scripts/serve and scripts/test: create or update ./.venv from the pinned
# dependencies (pyproject.toml + requirements.lock), reinstalling only when they change.
# An install says what it does, stage by stage: on a terminal one progress line that
# names each package as pip reaches it, elsewhere (CI, logs) a few plain lines. pip's
# whole output goes to $VENV/install.log, shown in full if the install fails.
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

say() { echo "agio: $*" >&2; }

# Reads pip's output on stdin; shows progress on stderr.
pip_progress() {
  local line count=0 tty=0
  [ -t 2 ] && tty=1
  while IFS= read -r line; do
    case "$line" in
      Collecting\ *|Requirement\ already\ satisfied:\ *)
        count=$((count + 1))
        if [ "$tty" = 1 ]; then
          line="${line#Collecting }"
          line="${line#Requirement already satisfied: }"
          printf '\r\033[K  resolving packages: %d (%s)' "$count" "${line%% *}" >&2
        elif [ "$count" = 1 ]; then
          echo "  resolving and downloading packages ..." >&2
        fi
        ;;
      Installing\ collected\ packages:*)
        [ "$tty" = 1 ] && printf '\r\033[K' >&2
        line="${line#*:}"
        echo "  installing $(($(tr -cd , <<<"$line" | wc -c) + 1)) packages ..." >&2
        ;;
      Successfully\ installed\ *)
        [ "$tty" = 1 ] && printf '\r\033[K' >&2
        echo "  installed $(($(wc -w <<<"$line") - 2)) packages" >&2
        ;;
    esac
  done
  if [ "$tty" = 1 ]; then printf '\r\033[K' >&2; fi
}

# pip with its output in the log and progress on the terminal; pip's exit status.
run_pip() {  # $1: the log file; the rest: pip's arguments
  local log="$1"
  shift
  "$VENV/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 |
    tee -a "$log" | pip_progress
  return "${PIPESTATUS[0]}"
}

ensure_venv() {  # $1: "run" or "dev"
  local extra="$1" py stamp want spec log started
  started=$SECONDS
  if [ ! -x "$VENV/bin/python" ]; then
    py="$(find_python)"
    say "[1/3] creating a virtual environment in $VENV (with $("$py" --version 2>&1))"
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
    log="$VENV/install.log"
    : >"$log"
    say "installing the pinned dependencies ($extra) into $VENV; pip's output: $log"
    say "[2/3] updating pip"
    if ! run_pip "$log" install --progress-bar off --upgrade pip ||
       ! { say "[3/3] installing Agio and its dependencies (the first time takes a minute)";
           run_pip "$log" install --progress-bar off -c "$ROOT/requirements.lock" -e "$spec"; }; then
      say "dependency installation failed; the log follows ($log)"
      cat "$log" >&2
      return 1
    fi
    echo "$want" >"$stamp"
    say "dependencies ready in $((SECONDS - started))s"
  fi
}
