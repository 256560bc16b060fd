# Sourced by the scripts: makes the project-local Python venv with the pinned tools in
# scripts/requirements.txt (moto's DynamoDB-API server, and for run-local cargo-lambda).
# Reinstalls only when the requirements change.
ensure_venv() {
  local venv=.venv stamp=.venv/.requirements
  if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv" >&2
    python3 -m venv "$venv"
  fi
  if ! cmp -s scripts/requirements.txt "$stamp"; then
    echo "==> installing scripts/requirements.txt into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
    cp scripts/requirements.txt "$stamp"
  fi
}
