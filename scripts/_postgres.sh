# Sourced by scripts/test: make sure PostgreSQL's server binaries are here for the tests that run
# Airflow on a real PostgreSQL (tests/test_triggerer_stall.py starts its own throwaway server).
# Installs Debian's `postgresql` package when they are missing and this user can (root or sudo);
# otherwise those tests skip, saying why (and fail when CI=true).
have_postgres_server() {
    local bin
    for bin in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")" \
        /usr/lib/postgresql/*/bin; do
        if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ]; then
            return 0
        fi
    done
    return 1
}
if ! have_postgres_server && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
    if [ -z "$sudo" ] || $sudo true 2>/dev/null; then
        echo "== installing PostgreSQL (Debian package postgresql) for the deployment tests"
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends postgresql
    fi
fi
if ! have_postgres_server; then
    echo "== PostgreSQL server binaries not found: the PostgreSQL deployment tests will skip" \
        "(install Debian's postgresql package to run them)"
fi
