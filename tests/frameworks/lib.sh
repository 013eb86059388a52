# shellcheck shell=bash
# lib.sh: what the framework tests (t202x-frameworks-*.sh) source after test-lib.sh.
#
#   require_frameworks   exit 77 without the pinned Python test environment or the
#                        fake Hub's hubfs-ml repos (tests/fakehub/make_ml_repos.py)
#   start_frameworks_mount  FUSE and the frameworks or skip, then the fake Hub and
#                        the mount
#   fw_python ARGS...    the venv's python, offline and quiet, with the fake Hub's
#                        URL, request log and data in its environment; the scripts
#                        in tests/frameworks/ import common.py from there

FW_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

require_frameworks() {
	[ -x "${HUBFS_VENV_PYTHON:-}" ] ||
		skip_all "no Python test environment at '${HUBFS_VENV_PYTHON:-}' (scripts/deps.sh --tests)"
	[ -f "${FAKEHUB_ML:-}/ml-repos.json" ] ||
		skip_all "no files of make_ml_repos.py in '${FAKEHUB_ML:-}'"
	grep -q '"model/hubfs-ml/bert-tiny"' "$FAKEHUB_DATA/manifest.json" ||
		skip_all "the fake Hub's data has no hubfs-ml repos (genrepos.py --ml)"
}

start_frameworks_mount() {
	require_fuse
	require_frameworks
	start_fakehub
	mount_hubfs
}

# Only the python gets HF_HUB_OFFLINE (FW_HUB_OFFLINE=0: not even it, for
# HfFileSystem against the fake Hub): hubfs itself reads it too.
fw_python() {
	env HUB_URL="$HUB_URL" HUB_LOG="$HUB_LOG" FAKEHUB_DATA="$FAKEHUB_DATA" \
		FAKEHUB_ML="$FAKEHUB_ML" PYTHONPATH="$FW_DIR" PYTHONDONTWRITEBYTECODE=1 \
		HF_HUB_OFFLINE="${FW_HUB_OFFLINE:-1}" HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
		HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 DO_NOT_TRACK=1 \
		TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 \
		HF_DATASETS_CACHE="$T/hf-datasets" \
		"$HUBFS_VENV_PYTHON" "$@"
}
