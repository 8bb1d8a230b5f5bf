# Sourced by scripts/test and scripts/demo: create .venv (or $ONEINBOX_VENV) and install the
# provider with the given extras, pinned to $AIRFLOW_VERSION (plus the pins that Airflow release
# needs, see airflow_pins). Re-installs only when pyproject.toml, the extras, the Airflow version,
# the pins or the interpreter change.
#   ONEINBOX_PYTHON=python3.10 (a name or a path): the interpreter of a new venv; a name that is
#     not runnable from PATH is also looked up in pyenv's versions. An existing venv built with
#     another interpreter is rebuilt. Unset: the existing venv's, else the newest Python 3.10+ on PATH.
#   ONEINBOX_PINS="pkg<x other<y": replaces the built-in pins of this Airflow version.
set -euo pipefail

AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
VENV="${ONEINBOX_VENV:-.venv}"
EXTRAS="${1:-}"

# What an Airflow release needs pinned to run at all on a fresh, unconstrained install (what its
# constraints file would pin; README "Supported versions" says why each). 3.1 and 3.3 need none.
# 3.2.x:
# - pydantic<2.14: its task supervisor fails on 2.14 (`AttributeError: __pydantic_core_schema__`).
# - fastapi<0.137: it leaves FastAPI uncapped (3.1 and 3.3 cap it) while its execution API needs a
#   FastAPI below 0.137; cadwyn 9 needs FastAPI 0.137.1+, so cadwyn<9 spares pip the backtracking.
# - svcs<26.2: its in-process execution API (`dag.test()`) drops the object holding the API app's
#   lifespan right after use; once the garbage collector takes it the lifespan exits, svcs 26.2+
#   then removes `app.state.svcs_registry`, and the task's `run` request (which needs it from 3.2
#   on) fails: `ServerResponseError` on `task-instances/{id}/run`. 3.3 keeps the lifespan alive
#   with the transport; 3.1's `run` does not use the registry.
airflow_pins() {
    case "$1" in
        3.2 | 3.2.*) echo "pydantic<2.14 fastapi<0.137 cadwyn<9 svcs<26.2" ;;
        *) echo "" ;;
    esac
}
PINS="${ONEINBOX_PINS-$(airflow_pins "$AIRFLOW_VERSION")}"

runs_python_310() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1
}

# Prints the interpreter to use: $ONEINBOX_PYTHON (or the older $PYTHON) if set, resolved through
# pyenv's versions when the name alone does not run (a pyenv shim of a version not selected);
# otherwise the newest python3.1X on PATH, then python3.
find_python() {
    local wanted="${ONEINBOX_PYTHON:-${PYTHON:-}}"
    if [ -n "$wanted" ]; then
        if runs_python_310 "$wanted"; then
            echo "$wanted"
            return
        fi
        case "$wanted" in
            python3.[0-9]*)
                local minor="${wanted#python}" found
                for found in "${PYENV_ROOT:-$HOME/.pyenv}/versions/$minor".*/bin/"$wanted"; do
                    if runs_python_310 "$found"; then
                        echo "$found"
                        return
                    fi
                done
                ;;
        esac
        echo "ONEINBOX_PYTHON=$wanted: not a runnable Python 3.10 or newer (give a name on PATH, a path, or a pyenv version's name like python3.13)" >&2
        exit 1
    fi
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3.10 python3; do
        if runs_python_310 "$candidate"; then
            echo "$candidate"
            return
        fi
    done
    echo "Python 3.10 or newer is required (set ONEINBOX_PYTHON=/path/to/python3.X)" >&2
    exit 1
}

# The full version and executable of an interpreter: what the stamp and the rebuild check compare.
python_identity() {
    "$1" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)'
}

if [ ! -x "$VENV/bin/python" ]; then
    "$(find_python)" -m venv "$VENV"
elif [ -n "${ONEINBOX_PYTHON:-${PYTHON:-}}" ]; then
    chosen="$(find_python)"
    if [ "$(python_identity "$chosen")" != "$(python_identity "$VENV/bin/python")" ]; then
        echo "Rebuilding $VENV with $chosen (it was built with $(python_identity "$VENV/bin/python"))"
        "$chosen" -m venv --clear "$VENV"
    fi
fi

# Reinstall when pyproject.toml, the Airflow version, its pins or the interpreter changed, or when
# these extras are not installed yet; a venv with the test extras also serves the demo (the
# `simulator` extra), and vice versa only adds what is missing.
stamp="$VENV/.oneinbox-installed"
installed_extras="$VENV/.oneinbox-extras"
want="$(
    cat pyproject.toml
    echo "apache-airflow==$AIRFLOW_VERSION"
    echo "pins: $PINS"
    echo "python: $(python_identity "$VENV/bin/python")"
)"
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
    read -ra pin_args <<<"$PINS"
    echo "Installing airflow-provider-oneinbox${all_extras:+[$all_extras]} with apache-airflow==$AIRFLOW_VERSION${PINS:+ ($PINS)} into $VENV ($(python_identity "$VENV/bin/python")) ..."
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "apache-airflow==$AIRFLOW_VERSION" ${pin_args[@]+"${pin_args[@]}"} \
        -e ".${all_extras:+[$all_extras]}"
    printf '%s' "$want" >"$stamp"
    printf '%s' "$all_extras" >"$installed_extras"
fi
case "$VENV" in
    /*) export PATH="$VENV/bin:$PATH" ;;
    *) export PATH="$PWD/$VENV/bin:$PATH" ;;
esac
