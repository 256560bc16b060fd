# Sourced by the scripts: makes the project-local Python venv (.venv) with the pinned tools from
# the requirement files given (moto's DynamoDB-API server; cargo-lambda for run-local).
# Installs again only when a requirement file changes.
ensure_venv() {
  ensure_venv_in .venv "$@"
}

# The same for another venv, for tools whose pins clash with .venv's (checkov: .venv-checkov).
ensure_venv_in() {
  local venv=$1 file stamp
  shift
  if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv" >&2
    python3 -m venv "$venv"
  fi
  for file in "$@"; do
    stamp="$venv/.installed-$(basename "$file")"
    if ! cmp -s "$file" "$stamp"; then
      echo "==> installing $file into $venv" >&2
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$file"
      cp "$file" "$stamp"
    fi
  done
}

# Waits until something listens on 127.0.0.1:$1, or fails after 60 s.
wait_for_port() {
  local i
  for i in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "nothing listens on 127.0.0.1:$1 after 60 s" >&2
  return 1
}
