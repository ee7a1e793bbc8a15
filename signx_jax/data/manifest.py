"""Shard manifests: read, check and verify a split's ``<split>.manifest.json``.

Pose shards, README "Design". The manifest is written last by ``shards.write_split``; it
records the schema version, the record kind, per-shard record counts, sizes and
sha256 sums. ``read_manifest`` runs on every ``open_split``; ``verify_split``
re-hashes (and optionally CRC-scans) a whole split, e.g. after a copy.
"""

from __future__ import annotations

import hashlib
import json
import os

from signx_jax import schema
from signx_jax.data import tfrecord
from signx_jax.data.records import KIND_CLIP

MANIFEST_FORMAT = "signx-jax-pose-shards"
MANIFEST_FORMAT_VERSION = 1


class ShardCorruptionError(ValueError):
    """A record failed its CRC / decode check; names file, record and byte offset."""


def manifest_path(data_dir: str, split: str) -> str:
    return os.path.join(data_dir, f"{split}.manifest.json")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(data_dir: str, split: str) -> dict:
    """Load and check the manifest of ``split`` (format and schema version)."""
    path = manifest_path(data_dir, split)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no manifest for split {split!r} in {data_dir}")
    with open(path) as f:
        try:
            manifest = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: manifest is not valid JSON ({e})") from e
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path}: not a {MANIFEST_FORMAT} manifest")
    version = manifest.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        age = "an older" if (version or 0) < schema.SCHEMA_VERSION else "a newer"
        raise ValueError(
            f"{path}: shards were written with {age} record schema (version {version}); "
            f"this code reads schema version {schema.SCHEMA_VERSION}. Regenerate the "
            "shards with the current data_pipelines (or check out matching code)."
        )
    if manifest.get("format_version", 0) > MANIFEST_FORMAT_VERSION:
        raise ValueError(
            f"{path}: shard format version {manifest['format_version']} is newer than "
            f"this code's {MANIFEST_FORMAT_VERSION}"
        )
    streams = [tuple(s) for s in manifest.get("streams", [])]
    if manifest.get("record_kind") == KIND_CLIP and streams != list(schema.STREAMS):
        raise ValueError(f"{path}: pose streams {streams} differ from schema.STREAMS")
    return manifest


def verify_split(data_dir: str, split: str, *, scan_records: bool = False) -> list[tuple[str, str]]:
    """Re-hash every shard and index (and optionally CRC-check every frame).

    Returns ``(path, problem)`` pairs; an empty list means the split is intact.
    """
    manifest = read_manifest(data_dir, split)
    problems = []
    for shard in manifest["shards"]:
        for key, sha_key in (("file", "sha256"), ("index_file", "index_sha256")):
            path = os.path.join(data_dir, shard[key])
            if not os.path.exists(path):
                problems.append((path, "missing"))
            elif sha256_file(path) != shard[sha_key]:
                problems.append((path, "sha256 mismatch"))
        if scan_records:
            path = os.path.join(data_dir, shard["file"])
            try:
                count = sum(1 for _ in tfrecord.iter_frames(path))
            except (OSError, tfrecord.TFRecordError) as e:
                offset = getattr(e, "offset", "?")
                problems.append((path, f"bad frame at byte offset {offset}: {e}"))
                continue
            if count != shard["num_records"]:
                problems.append((path, f"{count} frames, manifest says {shard['num_records']}"))
    return problems
