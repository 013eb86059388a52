#!/bin/sh
# The fake Hub's data, as the ctest fixture "fakehub/generate" makes it:
#   generate.sh PYTHON VENV_PYTHON DATA ML_DIR
# PYTHON (the system python) runs genrepos.py, standard library only. Where the
# pinned Python test environment exists (VENV_PYTHON, scripts/deps.sh --tests),
# make_ml_repos.py first writes the files transformers, torch and pyarrow make
# to ML_DIR, and genrepos.py imports them as the hubfs-ml repos; elsewhere the
# data has no hubfs-ml repos and the tests that need them exit 77.
set -eu
python=$1 venv_python=$2 data=$3 ml=$4
here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$venv_python" ]; then
	HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 HF_HOME="$ml.hf-home" \
		"$venv_python" "$here/make_ml_repos.py" "$ml"
	exec "$python" "$here/genrepos.py" "$data" --ml "$ml"
fi
echo "generate.sh: no Python test environment at $venv_python: no hubfs-ml repos"
exec "$python" "$here/genrepos.py" "$data"
