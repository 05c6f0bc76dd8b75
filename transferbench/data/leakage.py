"""No pretraining may see a test case: a pool or source that holds one of the target fold's test cases is
refused, by case id and by file content (a renamed copy of a test scan is still that scan).

Content is compared by a fingerprint of each file (its size and the SHA-256 of its first and last MiB),
computed only for files whose size equals a test file's, so checking a pool of a thousand studies reads a
few MiB, not the pool. Two different CT files of one size that agree on their first and last MiB do not
occur in practice (the gzip stream of a volume differs from its first bytes on).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from transferbench.data.sources import Case
from transferbench.errors import DataError

CHUNK = 1 << 20


def content_id(path: str | Path) -> str:
    """Fingerprint of a file's content: size and SHA-256 of its first and last MiB."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        digest.update(f.read(CHUNK))
        if size > CHUNK:
            f.seek(max(CHUNK, size - CHUNK))
            digest.update(f.read())
    return digest.hexdigest()


def leaked(pool: list[Case], test: list[Case]) -> list[tuple[Case, Case, str]]:
    """(pool case, test case, how) for every pool image that is a test case by id or by content."""
    by_id = {c.case_id: c for c in test}
    sizes: dict[int, list[Case]] = {}
    for t in test:
        sizes.setdefault(Path(t.image).stat().st_size, []).append(t)
    ids: dict[str, str] = {}
    found = []
    for c in pool:
        if c.case_id in by_id:
            found.append((c, by_id[c.case_id], "the same case id"))
            continue
        same_size = sizes.get(Path(c.image).stat().st_size, [])
        if not same_size:
            continue
        mine = content_id(c.image)
        for t in same_size:
            if ids.setdefault(str(t.image), content_id(t.image)) == mine:
                found.append((c, t, "the same file content"))
                break
    return found


def check_no_test_cases(pool: list[Case], test: list[Case], what: str) -> None:
    """Raise one error naming every pool file that is a test case (``what`` names the pool in the message)."""
    found = leaked(pool, test)
    if found:
        lines = [f"  - {c.image}: test case {t.case_id} ({t.image}), {how}" for c, t, how in found]
        raise DataError(
            f"{what}: {len(found)} image(s) of the pretraining data are test cases of the target fold; a "
            "pretraining must never see a test case (remove them from the pool):\n" + "\n".join(lines)
        )
