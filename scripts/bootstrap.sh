# Shared by scripts/demo and scripts/test: root or sudo for apt, and the project's virtualenv.
# Sourced, not run.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    echo "==> installing Debian packages: $*"
    local log
    log=$(mktemp)
    if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            && as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq --no-install-recommends "$@"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "installing $* failed (full log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
}

ensure_venv() {
    local extras="$1"
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "wherry needs Python 3.11 or newer (Debian 12 has it: apt-get install python3)" >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then apt_install python3-venv; fi
        python3 -m venv .venv
    fi
    echo "==> installing wherry${extras} into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
    local log
    log=$(mktemp)
    if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}" \
            >"$log" 2>&1 || ! .venv/bin/python -c 'import wherry.cli' 2>>"$log"; then
        tail -n 40 "$log" >&2
        echo "installing wherry failed (full log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
}

ensure_axe_core() {
    # axe-core for the browser tests (tests/e2e), from tests/e2e/package-lock.json: installed
    # here, never at test time, and again when the lock file changes. Debian's node and npm
    # when node is absent.
    if [ -f tests/e2e/node_modules/axe-core/axe.min.js ] \
            && [ tests/e2e/node_modules/.package-lock.json -nt tests/e2e/package-lock.json ]; then
        return 0
    fi
    command -v npm >/dev/null || apt_install nodejs npm
    echo "==> installing axe-core into tests/e2e/node_modules"
    local log
    log=$(mktemp)
    if ! npm ci --prefix tests/e2e --no-audit --no-fund --ignore-scripts >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        echo "installing axe-core failed (full log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
}
