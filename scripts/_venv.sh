# Sourced by scripts/test and scripts/demo: create .venv (or $ONEINBOX_VENV) and install the
# provider with the given extras, pinned to $AIRFLOW_VERSION. Re-installs only when pyproject.toml,
# the extras or the Airflow version change.
set -euo pipefail

AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
VENV="${ONEINBOX_VENV:-.venv}"
EXTRAS="${1:-}"

find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
    exit 1
}

if [ ! -x "$VENV/bin/python" ]; then
    "$(find_python)" -m venv "$VENV"
fi

# Reinstall when pyproject.toml or the Airflow version changed, or when these extras are not
# installed yet; a venv with the test extras also serves the demo (the `simulator` extra), and
# vice versa only adds what is missing.
stamp="$VENV/.oneinbox-installed"
installed_extras="$VENV/.oneinbox-extras"
want="$(cat pyproject.toml; echo "$AIRFLOW_VERSION")"
have_extras=""
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$installed_extras" ]; then
    have_extras="$(cat "$installed_extras")"
else
    rm -f "$installed_extras"
fi
missing=""
for extra in ${EXTRAS//,/ }; do
    case ",$have_extras," in
        *",$extra,"*) ;;
        # pyproject.toml: the test and bench extras include the simulator's.
        *",test,"* | *",bench,"*) [ "$extra" = simulator ] || missing="$extra" ;;
        *) missing="$extra" ;;
    esac
done
if [ ! -f "$installed_extras" ] || [ -n "$missing" ]; then
    all_extras="$(printf '%s\n' ${have_extras//,/ } ${EXTRAS//,/ } | sort -u | paste -sd, -)"
    echo "Installing airflow-provider-oneinbox${all_extras:+[$all_extras]} with apache-airflow==$AIRFLOW_VERSION into $VENV ..."
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "apache-airflow==$AIRFLOW_VERSION" -e ".${all_extras:+[$all_extras]}"
    printf '%s' "$want" >"$stamp"
    printf '%s' "$all_extras" >"$installed_extras"
fi
case "$VENV" in
    /*) export PATH="$VENV/bin:$PATH" ;;
    *) export PATH="$PWD/$VENV/bin:$PATH" ;;
esac
