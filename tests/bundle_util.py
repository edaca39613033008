"""Weekly bundles built at test time from the sample ZIPs, laid out as USPTO publishes them (never committed)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import sample

DATED = "20251021/UTIL0448"
CORRUPT = f"{DATED}/US99999999-20251021.ZIP"


def make_bundle(path: Path, names: Sequence[str], corrupt: bool = False, in_zip: bool = False) -> Path:
    """A tar of sample ZIPs under `20251021/UTIL0448/` (and a README, which is no document); with `corrupt`,
    one member that is not a ZIP; with `in_zip`, that tar inside a zip named `path`. Returns `path`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(_info("20251021/README.txt", 5), io.BytesIO(b"lists"))
        for name in names:
            tf.add(sample(f"uspto/{name}"), arcname=f"{DATED}/{name}")
        if corrupt:
            junk = b"PK\x03\x04 this is not a zip file" * 20
            tf.addfile(_info(CORRUPT, len(junk)), io.BytesIO(junk))
    if in_zip:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(path.with_suffix(".tar").name, buf.getvalue())
    else:
        path.write_bytes(buf.getvalue())
    return path


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info
