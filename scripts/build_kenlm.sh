#!/usr/bin/env bash
# Builds KenLM's `lmplz` (ARPA n-gram LMs with modified Kneser-Ney smoothing)
# and `build_binary` into the virtualenv's bin/, where `asr lm build` looks first.
# PyPI's `kenlm` package only queries LMs; its sdist carries KenLM's full
# sources, so the version pinned here is the one pip already resolves.
# Idempotent: a second run only checks. Usage: bash scripts/build_kenlm.sh [VENV]
set -euo pipefail

VENV=${1:-.venv}
KENLM_VERSION=0.3.0
if [ -x "$VENV/bin/lmplz" ] && [ -x "$VENV/bin/build_binary" ]; then
  echo "kenlm: lmplz present"; exit 0
fi

PACKAGES=(cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev
          zlib1g-dev libbz2-dev liblzma-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "kenlm: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# --no-build-isolation: only the sdist is wanted, not its build dependencies built from source.
"$VENV/bin/pip" download --quiet --no-deps --no-binary kenlm --no-build-isolation "kenlm==$KENLM_VERSION" -d "$work"
tar xzf "$work/kenlm-$KENLM_VERSION.tar.gz" -C "$work"
cmake -S "$work/kenlm-$KENLM_VERSION" -B "$work/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" --target lmplz build_binary -j "$(nproc)" >/dev/null
install -m 755 "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$VENV/bin/"
echo "kenlm: lmplz and build_binary installed in $VENV/bin"
