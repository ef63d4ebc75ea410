# Shared by scripts/demo and scripts/test: install what is missing, as a new user would need.
# shellcheck shell=bash

apt_updated=0
as_root() { [ "$(id -u)" -eq 0 ]; }

# ensure_debian_packages BINARY:PACKAGE ...  installs the packages whose binary is missing.
ensure_debian_packages() {
  local missing=() pair bin pkg
  for pair in "$@"; do
    bin=${pair%%:*}; pkg=${pair##*:}
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/usr/bin/$bin" ]; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if as_root && command -v apt-get >/dev/null 2>&1; then
    echo "panen: installing Debian packages: ${missing[*]}" >&2
    if [ $apt_updated -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's packages would start system-wide services on some machines; panen starts its own.
  else
    echo "panen: missing packages: ${missing[*]}" >&2
    echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
}

# ensure_venv EXTRAS  creates .venv and (re)installs panen when pyproject.toml changed.
ensure_venv() {
  local extras=$1 stamp=".venv/.installed-$1"
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    ensure_debian_packages_force python3-venv
  fi
  [ -x .venv/bin/python ] || python3 -m venv .venv
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "panen: installing Python dependencies into .venv (first run takes a minute)" >&2
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".[$extras]"
    touch "$stamp"
  fi
}

ensure_debian_packages_force() {
  if as_root && command -v apt-get >/dev/null 2>&1; then
    if [ $apt_updated -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "panen: Python's venv module is missing; install it with: sudo apt-get install -y $*" >&2
    exit 1
  fi
}
