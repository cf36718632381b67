"""Write the answerer's background vectors for the bundled model (assistant/background.py).

The background is the project's own index of ARCD-train (Arabic Wikipedia paragraphs, MIT-licensed SOQAL
data in ../shared/eval): every chunk's vector as the bundled model stores it, ordered by chunk id, saved as
float16 in assistant/data/background-<weights sha256[:12]>.npy. ARCD-train is neither calibration pool's
index (those are ARCD-test and XQuAD, docs/abstention.md).

Command (from the repository root, with the project virtualenv; about a minute on 2 cores):

    python benchmarks/background.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval_quality import DEFAULT_WORK_DIR, EVAL_DIR, build_index, load_squad

from assistant.background import file_name
from assistant.retrieval import Retriever

REPO_ROOT = Path(__file__).resolve().parent.parent


def background_vectors(work_dir: Path) -> tuple[np.ndarray, str]:
    """The chunk vectors of the ARCD-train index (by chunk id), and the checksum of the model's weights."""
    corpus, _ = load_squad(EVAL_DIR / "arcd" / "arcd-train.json", "arcd-train")
    built = build_index(corpus, "bundled", work_dir)
    retriever = Retriever.open(built.settings)
    try:
        checksum = str(getattr(retriever.embedder, "checksum", "") or "")
        ids = sorted(chunk.id for chunk in built.chunks)
        with retriever.reader.snapshot() as snapshot:
            stored = snapshot.passage_vectors(ids)
    finally:
        retriever.close()
    if not checksum or len(stored) != len(ids):
        raise SystemExit(f"the ARCD-train index lacks vectors ({len(stored)} of {len(ids)}) or a model checksum")
    return np.stack([stored[i].chunk for i in ids]).astype(np.float32), checksum


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the indexes are cached")
    parser.add_argument("--check", action="store_true", help="compare with the shipped file instead of writing it")
    args = parser.parse_args()
    vectors, checksum = background_vectors(args.work_dir)
    target = REPO_ROOT / "assistant" / "data" / file_name(checksum)
    if args.check:
        shipped = np.load(target).astype(np.float32)
        gap = float(np.abs(shipped - vectors).max()) if shipped.shape == vectors.shape else float("inf")
        print(f"{target.name}: shipped {shipped.shape}, rebuilt {vectors.shape}, largest difference {gap:.4f}")
        raise SystemExit(0 if gap < 1e-2 else 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.save(target, vectors.astype(np.float16))
    print(f"wrote {target.relative_to(REPO_ROOT)}: {vectors.shape[0]} vectors of {vectors.shape[1]} dimensions")


if __name__ == "__main__":
    main()
