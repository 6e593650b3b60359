#!/bin/sh
# The image's entry point: keeps the checkpoint manifest in the weights volume in step with this
# image's code, then runs the command (by default `visionanything serve`).
#
# The models read the manifest from $VISIONANYTHING_WEIGHTS/manifest.json and the checkpoint
# files beside it. A fresh named volume gets the image's copy when first mounted, but a bind
# mount or a volume from an older image would have none or a stale one, so it is copied here
# (atomically: replicas starting at once share the volume).
set -eu

manifest=${VA_IMAGE_MANIFEST:-/app/weights/manifest.json}  # overridable for tests/deploy
weights=${VISIONANYTHING_WEIGHTS:-/data/weights}

if [ -d "$weights" ] && ! cmp -s "$manifest" "$weights/manifest.json"; then
    tmp="$weights/.manifest.json.$$"
    if cp "$manifest" "$tmp" 2>/dev/null && mv -f "$tmp" "$weights/manifest.json"; then
        echo "va-entrypoint: wrote this image's checkpoint manifest to $weights/manifest.json" >&2
    else
        rm -f "$tmp" 2>/dev/null || true
        echo "va-entrypoint: cannot write $weights/manifest.json (the directory must be" \
            "writable by uid $(id -u); for a bind mount: chown -R $(id -u):$(id -g) DIR)" >&2
    fi
fi

exec "$@"
