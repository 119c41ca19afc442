#!/usr/bin/env bash
# Installs the Debian packages Transfer ASR uses: the speech synthesizers and
# voices that make its training and test corpora (asr/corpora/synth.py's VOICES table),
# the texts they read (fortunes, translated manual pages: asr/corpora/texts.py) and the spell-checkers' word lists the
# LMs' lexicons take (asr lm build); and the compilers and libraries that the
# `kenlm` Python package and KenLM's lmplz (scripts/build_kenlm.sh) build from. MBROLA, SVOX Pico and RHVoice voices live in
# Debian's contrib and non-free components, so those are enabled first.
# Idempotent: a second run only checks.
set -euo pipefail

PACKAGES=(
  espeak-ng mbrola libttspico-utils sox
  mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4 mbrola-de5 mbrola-de6 mbrola-de7 mbrola-de8
  mbrola-it1 mbrola-it2 mbrola-it3 mbrola-it4
  mbrola-es1 mbrola-es2 mbrola-es3 mbrola-es4 mbrola-mx1 mbrola-mx2 mbrola-vz1
  mbrola-en1 mbrola-us1 mbrola-us2 mbrola-us3
  festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k festvox-don festvox-us-slt-hts
  festvox-italp16k festvox-itapc16k festvox-ellpc11k
  flite
  rhvoice rhvoice-english
  fortunes fortunes-de fortunes-it fortunes-es
  manpages-de manpages-it manpages-es
  wngerman witalian wspanish wamerican
  cmake g++ make zlib1g-dev libbz2-dev liblzma-dev
  libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "system packages: all present"; exit 0; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ] && grep -q '^Components: main$' "$sources"; then
  $SUDO sed -i 's/^Components: main$/Components: main contrib non-free/' "$sources"
elif [ -f /etc/apt/sources.list ]; then
  $SUDO sed -i -E '/^deb /{/contrib/!s/ main( |$)/ main contrib non-free\1/}' /etc/apt/sources.list
fi
echo "system packages: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
