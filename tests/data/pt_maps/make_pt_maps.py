"""Write the .pt test maps with torch itself, once (torch is not in the test extra: it takes over a minute to
install here, see tests/test_pt_maps.py). Each <name>.pt has <name>.npy beside it: torch's own values.

    .venv-peers/bin/python tests/data/pt_maps/make_pt_maps.py   # torch 2.14.1
"""

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def save(name: str, tensor: torch.Tensor, **kwargs: object) -> None:
    torch.save(tensor, HERE / f"{name}.pt", **kwargs)
    np.save(HERE / f"{name}.npy", tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy())


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    base = torch.rand((1, 6, 5), generator=generator, dtype=torch.float32)
    save("float32", base)  # (1, H, W): squeezed
    save("float64", base.double()[0])
    save("float16", base.half()[0])
    save("bfloat16", base.bfloat16()[0])
    save("strided", torch.rand((5, 6), generator=generator).t()[1:, ::2])  # a non-contiguous view, an offset
    save("legacy", base[0], _use_new_zipfile_serialization=False)
    torch.save({"map": base[0]}, HERE / "dict.pt")
    # The AUPIMO paper's stacked maps of a category: asmaps.pt (N, 1, H, W) and the paths in aupimo/aupimos.json.
    stacked = torch.rand((3, 1, 4, 3), generator=generator)
    (HERE / "stacked" / "aupimo").mkdir(parents=True, exist_ok=True)
    torch.save(stacked, HERE / "stacked" / "asmaps.pt")
    np.save(HERE / "stacked" / "expected.npy", stacked.numpy()[:, 0])
    paths = ["/data/MVTec/bottle/test/good/000.png", "/data/MVTec/bottle/test/broken_large/000.png",
             "/data/MVTec/bottle/test/broken_large/001.png"]
    (HERE / "stacked" / "aupimo" / "aupimos.json").write_text(json.dumps({"paths": paths}, indent=2) + "\n")

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return os.system, (f"touch {HERE / 'pwned'}",)

    # A zip laid out as torch.save's, whose pickle calls os.system: it must be refused, never run.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(Evil(), protocol=2))
        archive.writestr("evil/byteorder", "little")
    (HERE / "evil.pt").write_bytes(buffer.getvalue())
    print(f"wrote {HERE}")


if __name__ == "__main__":
    main()
