"""Visual words: local descriptors quantised to a vocabulary, so a region finds its sheet by shared details.

A global descriptor of a crop does not resemble the whole sheet's, so an image query's own sheet is often not
among the candidates that spatial verification (`tools.verify`) sees. A crop does share many *local* details
with its sheet. Each descriptor (`models.keypoints`, 256 bits) is mapped to its nearest word of a vocabulary
of `k` binary centres learned by k-majority (k-means under the Hamming distance, each centre the bitwise
majority of its members; Grana et al. 2013), and units are then found through an inverted index over
words (`tools.regions`), whatever the query's size, resolution or turn (ORB is turn invariant).

The vocabulary is learned from the index's own stored features (`learn`), once; a descriptor of line art is a
corner, a line end, a junction or a hatch, so centres learned on some hundreds of sheets serve later ones.
A query's descriptor is also given the other words within `SOFT_BITS` of its nearest (at most `SOFT_K`), as
quantisation splits near-identical details between neighbouring words (multiple assignment).

Verification's SIFT features (`keypoints.SIFT_NAME`) have words of their own (`learn_details`): their
RootSIFT descriptors (unit vectors) quantised by spherical k-means, each descriptor's word the centre of the
largest cosine. ORB's corners change with the scale of thin lines, SIFT's blobs much less, so a
half-resolution region finds its sheet by SIFT's words where ORB's miss it. On the 360 region and sketch
queries of bench/region_verify.py, the own unit was among the candidates (the global descriptor's 40 and ORB's
words' 40) for 331; with SIFT's words' first 20 also, for 346 (40: 349). A SIFT query descriptor takes its
nearest word only: with the other words within 0.05 of cosine too, fewer own units were found (348 against 349).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import keypoints

MAX_WORDS = 16384  # the vocabulary's size on a large index (fewer on a small one: `vocabulary_size`)
DESCRIPTORS_PER_WORD = 16  # a word is learned from at least this many descriptors on average
MIN_WORDS = 256
SAMPLE = 150_000  # descriptors the vocabulary is learned from, at most
ITERATIONS = 4
SOFT_K, SOFT_BITS = 3, 8  # a query descriptor's words: its nearest, and up to SOFT_K - 1 within SOFT_BITS more


@dataclass
class Vocabulary:
    """k centres with the name they are stored and checked by: ORB's binary (k × 32 bytes, uint8), SIFT's unit
    vectors in RootSIFT's space (k × 128, float16)."""

    centres: np.ndarray
    name: str

    def __len__(self) -> int:
        return len(self.centres)


def vocabulary_size(n_descriptors: int) -> int:
    """A power of two with about `DESCRIPTORS_PER_WORD` descriptors a word, within [MIN_WORDS, MAX_WORDS]."""
    k = MIN_WORDS
    while k * 2 <= min(MAX_WORDS, n_descriptors // DESCRIPTORS_PER_WORD):
        k *= 2
    return k


def vocabulary_name(k: int) -> str:
    return f"{keypoints.NAME}/kmaj-{k}-v1"


def details_vocabulary_name(k: int) -> str:
    return f"{keypoints.SIFT_NAME}/kmeans-{k}-v1"


def _nearest(centres: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
    import cv2

    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    out = np.zeros(len(descriptors), dtype=np.int32)
    for m in matcher.match(descriptors, centres):
        out[m.queryIdx] = m.trainIdx
    return out


def _sampled(descriptors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """At most `SAMPLE` of these descriptors, and the vocabulary's size for them (refused when too few)."""
    if len(descriptors) > SAMPLE:
        descriptors = descriptors[rng.choice(len(descriptors), SAMPLE, replace=False)]
    k = vocabulary_size(len(descriptors))
    if len(descriptors) < k:
        raise ValueError(f"{len(descriptors)} descriptors cannot make a vocabulary of {k} words")
    return descriptors, k


def learn(descriptors: np.ndarray, seed: int = 0) -> Vocabulary:
    """A vocabulary learned by k-majority from these descriptors (n × 32 bytes, a sample of the index's)."""
    rng = np.random.default_rng(seed)
    descriptors, k = _sampled(descriptors, rng)
    centres = descriptors[rng.choice(len(descriptors), k, replace=False)].copy()
    bits = np.unpackbits(descriptors, axis=1)
    for _ in range(ITERATIONS):
        members = _nearest(centres, descriptors)
        ones = np.zeros((k, bits.shape[1]), dtype=np.int32)
        np.add.at(ones, members, bits)
        count = np.bincount(members, minlength=k)
        centres = np.packbits(2 * ones > count[:, None], axis=1)
        empty = np.flatnonzero(count == 0)  # a centre nothing chose: restart it on a random descriptor
        centres[empty] = descriptors[rng.choice(len(descriptors), len(empty), replace=False)]
    return Vocabulary(centres.astype(np.uint8), vocabulary_name(k))


def learn_details(descriptors: np.ndarray, seed: int = 0) -> Vocabulary:
    """A vocabulary of SIFT's words learned by spherical k-means (mini-batch) from these SIFT descriptors (n × 128
    bytes, a sample of the index's), compared as RootSIFT."""
    from sklearn.cluster import MiniBatchKMeans

    descriptors, k = _sampled(descriptors, np.random.default_rng(seed))
    km = MiniBatchKMeans(k, batch_size=4096, n_init="auto", max_iter=20, random_state=seed)  # k-means++, once
    centres = km.fit(keypoints.rootsift(descriptors)).cluster_centers_
    centres /= np.linalg.norm(centres, axis=1, keepdims=True) + 1e-9
    return Vocabulary(centres.astype(np.float16), details_vocabulary_name(k))


def _nearest_root(centres: np.ndarray, descriptors: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Each SIFT descriptor's word: the centre of the largest cosine with its RootSIFT."""
    c = centres.astype(np.float32).T
    root = keypoints.rootsift(descriptors)
    return np.concatenate([(root[i:i + batch] @ c).argmax(axis=1) for i in range(0, len(root), batch)])


def words(vocab: Vocabulary, f: keypoints.Features) -> np.ndarray:
    """Each descriptor's nearest word (uint16, in the features' order): what is stored for an indexed unit."""
    if not len(f):
        return np.zeros(0, dtype=np.uint16)
    if vocab.centres.dtype != np.uint8:
        return _nearest_root(vocab.centres, f.descriptors).astype(np.uint16)
    return _nearest(vocab.centres, f.descriptors).astype(np.uint16)


def query_words(vocab: Vocabulary, f: keypoints.Features) -> np.ndarray:
    """A query's words: each descriptor's nearest, and its next nearest within `SOFT_BITS` of it (ORB's; SIFT's
    nearest only)."""
    import cv2

    if not len(f):
        return np.zeros(0, dtype=np.uint16)
    if vocab.centres.dtype != np.uint8:
        return words(vocab, f)
    out: list[int] = []
    for ms in cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(f.descriptors, vocab.centres, k=SOFT_K):
        if ms:
            out += [m.trainIdx for m in ms if m.distance <= ms[0].distance + SOFT_BITS]
    return np.array(out, dtype=np.uint16)


def pack(w: np.ndarray) -> bytes:
    return w.astype("<u2").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u2").astype(np.uint16)


def pack_vocabulary(vocab: Vocabulary) -> bytes:
    """ORB's centres as bytes (32 a word), SIFT's as little-endian float16 (256 a word)."""
    if vocab.centres.dtype == np.uint8:
        return vocab.centres.tobytes()
    return vocab.centres.astype("<f2").tobytes()


def stored_vocabulary(row: tuple[str, bytes] | None, features: str) -> Vocabulary | None:
    """A stored vocabulary (its name and packed centres) when it was learned from the features named `features`;
    None when there is none or it is of another version of them (to be learned again)."""
    if row is None or not row[0].startswith(features + "/"):
        return None
    return unpack_vocabulary(row[1], row[0])


def unpack_vocabulary(blob: bytes, name: str) -> Vocabulary:
    if name.startswith(keypoints.SIFT_NAME + "/"):
        return Vocabulary(np.frombuffer(blob, dtype="<f2").reshape(-1, keypoints.SIFT_BYTES).astype(np.float16), name)
    return Vocabulary(np.frombuffer(blob, dtype=np.uint8).reshape(-1, keypoints.DESC_BYTES).copy(), name)
