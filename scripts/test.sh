#!/usr/bin/env bash
# Runs every test: unit, vectors (../shared/vectors), CLI, and pyca interop.
# First run creates .venv with pyca/cryptography for the interop test.
set -euo pipefail
cd "$(dirname "$0")/.."
export QSAFE_VECTORS="${QSAFE_VECTORS:-$(cd .. && pwd)/shared/vectors}"
if [ ! -d "$QSAFE_VECTORS" ]; then
    echo "error: test vectors not found at $QSAFE_VECTORS" >&2
    echo "hint: set QSAFE_VECTORS to the shared/vectors folder" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import cryptography, model_signing, sys; sys.exit(int(cryptography.__version__.split(".")[0]) < 50 or not model_signing.__version__.startswith("1.1."))' 2>/dev/null; then
    python3 -m venv .venv
    # model-signing 1.1.1 imports OpenSSL (pyOpenSSL) without declaring the dependency.
    .venv/bin/pip install --quiet --disable-pip-version-check 'cryptography>=50' 'model-signing>=1.1,<1.2' pyOpenSSL
fi
export QSAFE_INTEROP_PYTHON="$PWD/.venv/bin/python"
# Unit, integration and vector tests, plus the criterion benches run once each as tests.
cargo test --workspace --all-features --all-targets "$@"
cargo test --workspace --all-features --doc "$@"
