#!/usr/bin/env python3
"""Reference tensors from Pillow + the torchvision eval transform, for
TestMatchesPIL (not run by CI; needs Pillow and numpy).

    go test ./plugins/onnx/preprocess -run MatchesPIL -pil-dump /tmp/pil
    python3 plugins/onnx/preprocess/testdata/pil_reference.py /tmp/pil/*.png

prints {"name": sha256} to paste into golden_tensors.json "pil". It does what
torchvision does for a PIL image, without needing torch:
Resize(256) + CenterCrop(224) (or Resize((224, 224)) for "stretch-" names),
ToTensor, Normalize(mean, std), all in float32, NCHW, little-endian bytes.
"""
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def tensor(path, stretch):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if stretch:
        img = img.resize((224, 224), Image.BILINEAR)
    else:
        # torchvision _compute_resized_output_size: int(size * long / short)
        if w <= h:
            nw, nh = 256, int(256 * h / w)
        else:
            nw, nh = int(256 * w / h), 256
        img = img.resize((nw, nh), Image.BILINEAR)
        # torchvision center_crop: int(round((h - crop) / 2.0))
        top = int(round((nh - 224) / 2.0))
        left = int(round((nw - 224) / 2.0))
        img = img.crop((left, top, left + 224, top + 224))
    x = np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255)
    x = (x - MEAN) / STD
    x = np.ascontiguousarray(x.transpose(2, 0, 1)).astype("<f4")
    return hashlib.sha256(x.tobytes()).hexdigest()


out = {}
for p in sys.argv[1:]:
    name = os.path.splitext(os.path.basename(p))[0]
    out[name] = tensor(p, name.startswith("stretch-"))
print(json.dumps(out, indent=2, sort_keys=True))
