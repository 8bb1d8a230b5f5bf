# Sourced by scripts/deployment-test for the CeleryExecutor scenario: make sure `redis-server` (the
# Celery broker) is here. Installs Debian's `redis-server` package when it is missing and this user
# can (root or sudo); the test starts its own server on a free loopback port and stops it after (the
# package's own service is not used). Without it, the Celery scenario fails saying why.
if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
    if [ -z "$sudo" ] || $sudo true 2>/dev/null; then
        echo "== installing Redis (Debian package redis-server) for the Celery deployment test"
        $sudo apt-get update -q
        # policy-rc.d-less containers: the package's service may fail to start; the binary is what counts.
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends redis-server ||
            command -v redis-server >/dev/null 2>&1
    fi
fi
if ! command -v redis-server >/dev/null 2>&1; then
    echo "== redis-server not found: the Celery deployment test cannot run" \
        "(install Debian's redis-server package)"
fi
