#!/usr/bin/env bash
# Rebuild the training corpus, held-out texts and tokenizer from scratch (about 3 minutes).
#   sudo-less as root:  bash tools/train/build_corpus.sh
# Installs the Debian packages that hold the text, then runs build_corpus.py and
# train_tokenizer.py. Outputs: tools/train/runs/corpus/, tools/train/runs/tokenizer/,
# models/data/validation.txt, models/data/calibration.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES=(bible-kjv bible-kjv-text fortunes fortunes-min fortunes-bofh-excuses dict-gcide
          wordnet-base dict-foldoc dict-devil jargon-text debian-handbook debian-reference-en
          debian-faq maint-guide gnu-standards python3.11-doc perl-doc linux-doc-6.1
          postgresql-doc-15 git-doc libgoogle-perftools4)
if [ "${SKIP_APT:-0}" != 1 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
fi
python3 tools/train/build_corpus.py "$@"
python3 tools/train/train_tokenizer.py
