#!/usr/bin/env bash
# Installs the pinned Python test tools (moto server, cfn-lint, checkov) into ./.venv when it is
# missing or older than requirements-dev.txt. Called by `npm test` (pretest) and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

req=requirements-dev.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/moto_server ] && [ -x .venv/bin/cfn-lint ] && [ -x .venv/bin/checkov ]; then
  exit 0
fi

py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
  echo "setup-python: $py not found. Install Python 3.10+ with venv and pip (Debian: apt-get install python3 python3-venv python3-pip), or set PYTHON=/path/to/python3." >&2
  exit 1
fi
if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "setup-python: $py has no venv/ensurepip module. Debian: apt-get install python3-venv." >&2
  exit 1
fi

echo "setup-python: installing $(grep -cv '^\s*#' "$req") pinned tools from $req into .venv …" >&2
rm -rf .venv
"$py" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
for tool in moto_server cfn-lint checkov; do
  if [ ! -x ".venv/bin/$tool" ]; then
    echo "setup-python: .venv/bin/$tool missing after install; see the pip output above." >&2
    exit 1
  fi
done
echo "$want" > "$stamp"
echo "setup-python: ready (.venv)" >&2
