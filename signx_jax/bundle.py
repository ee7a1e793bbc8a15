"""A trained run as one self-contained directory: the model bundle (README "Model bundle").

  python -m signx_jax.export --workdir runs/demo --out runs/demo/bundle   # writes one

The main job writes ``<workdir>/bundle`` itself after its evaluate step. Layout::

  bundle/
    README.md            the model card: data, metrics with the command that made them,
                         intended use, limits
    signx.json           format version, the signx-jax version that wrote it, the routes,
                         each stage's config, each route's decoder chosen on dev, the
                         preprocessing constants (image size, minimum frames)
    vocab.json           the gloss vocabulary (``signx_jax.data.vocab``)
    stage1.safetensors   Pose2Gloss (pose route)
    stage2.safetensors   Video2Pose with the frozen stage 1 it was trained against (video)
    stage3.safetensors   the released CSLR (mean of the best checkpoints) and its prune mask
    samples.json         video route: a few test clips of the run (reference glosses, fps,
    samples/NN.webm      the signs' frame spans) for the web demo (``signx_jax.demo``)

A ``.safetensors`` file holds one stage's parameters, its other model variables
(normalisation statistics, pose statistics) and its stage state (the prune mask), keyed
by their pytree paths; random-number keys are not stored (inference draws none).
Nothing in a bundle is pickled or executed: it loads with any safetensors reader, and
fits a model hub repository as is. ``signx_jax.recognize.Recognizer.from_pretrained``
and ``recognize --model`` load it without the run directory; a bundle whose tensors do
not match this code's models is refused with every mismatching name.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

import numpy as np

FORMAT_VERSION = 1


class BundleError(ValueError):
    """A bundle that is missing, of another format, or does not match the models."""


def package_version() -> str:
    try:
        return importlib.metadata.version("signx-jax")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _tree(trainer) -> dict[str, Any]:
    s = trainer.state
    return {"params": s.params, "rest": s.rest, "aux": s.aux}


def _is_key(leaf) -> bool:
    import jax

    return jax.dtypes.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key)


def state_tensors(trainer) -> dict[str, np.ndarray]:
    """{pytree path: array} of a trainer's model variables and stage state."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(_tree(trainer))[0]
    return {
        jax.tree_util.keystr(path): np.array(jax.device_get(leaf), order="C")
        for path, leaf in leaves
        if not _is_key(leaf)
    }


def load_tensors(trainer, tensors: dict[str, np.ndarray], where: str) -> None:
    """Put ``tensors`` into ``trainer``'s state; every missing, extra or mismatching
    name is reported at once."""
    import jax

    leaves, treedef = jax.tree_util.tree_flatten_with_path(_tree(trainer))
    new, missing, wrong, seen = [], [], [], set()
    for path, leaf in leaves:
        key = jax.tree_util.keystr(path)
        if _is_key(leaf) or key not in tensors:  # PRNG keys are not stored: keep the model's
            new.append(leaf)
            if not _is_key(leaf):
                missing.append(key)
            continue
        seen.add(key)
        value = tensors[key]
        if value.shape != leaf.shape or value.dtype != leaf.dtype:
            wrong.append(f"{key} is {value.dtype}{list(value.shape)}, "
                         f"the model wants {leaf.dtype}{list(leaf.shape)}")  # fmt: skip
        new.append(value)
    extra = sorted(set(tensors) - seen)
    if missing or wrong or extra:
        parts = [f"{len(missing)} missing ({', '.join(missing[:5])})" if missing else "",
                 f"{len(wrong)} mismatching ({'; '.join(wrong[:5])})" if wrong else "",
                 f"{len(extra)} unexpected ({', '.join(extra[:5])})" if extra else ""]  # fmt: skip
        raise BundleError(
            f"{where}: does not match this code's {trainer.cfg.stage} model: "
            + ", ".join(p for p in parts if p)
        )
    tree = jax.tree_util.tree_unflatten(treedef, new)
    trainer.restore_state(trainer.state.replace(**tree))


def read_bundle(bundle: str) -> dict[str, Any]:
    """signx.json of ``bundle``, its format checked."""
    import json

    path = os.path.join(bundle, "signx.json")
    if not os.path.isfile(path):
        raise BundleError(f"{path}: missing; make a bundle with python -m signx_jax.export")
    with open(path) as f:
        meta = json.load(f)
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {meta.get('format_version')!r}, this signx-jax "
            f"({package_version()}) reads format {FORMAT_VERSION}; written by "
            f"signx-jax {meta.get('signx_jax_version')}"
        )
    return meta


def load_stage(bundle: str, stage: str, task_factory, meta: dict[str, Any]):
    """A Trainer of ``stage`` built from the bundle's config, holding its tensors."""
    import ml_collections
    from safetensors.numpy import load_file

    from signx_jax.train.loop import Trainer

    if stage not in meta["configs"]:
        raise BundleError(f"{bundle}: has no {stage} (its routes: {meta['routes']})")
    cfg = ml_collections.ConfigDict(meta["configs"][stage])
    trainer = Trainer(cfg, task_factory(cfg))
    path = os.path.join(bundle, f"{stage}.safetensors")
    load_tensors(trainer, load_file(path), path)
    return trainer


def write(
    out: str, trainers: dict, meta: dict[str, Any], vocab_path: str, card: str, extra=None
) -> str:
    """Write a bundle to ``out`` (replaced atomically: a crash leaves the old bundle or
    none, never a part). ``meta``: signx.json without the configs and versions;
    ``extra(dir)`` adds files (the sample clips)."""
    import json
    import shutil

    from safetensors.numpy import save_file

    from signx_jax import atomic

    meta = {"format_version": FORMAT_VERSION, "signx_jax_version": package_version(), **meta,
            "configs": {s: json.loads(t.cfg.to_json()) for s, t in trainers.items()}}  # fmt: skip
    with atomic.directory(out) as tmp:
        for stage, trainer in trainers.items():
            path = os.path.join(tmp, f"{stage}.safetensors")
            save_file(state_tensors(trainer), path,
                      metadata={"stage": stage, "format_version": str(FORMAT_VERSION)})  # fmt: skip
            os.chmod(path, 0o644)  # safetensors writes 0600; a bundle is for sharing
        with open(os.path.join(tmp, "signx.json"), "w") as f:
            json.dump(meta, f, indent=1)
        shutil.copy(vocab_path, os.path.join(tmp, "vocab.json"))
        with open(os.path.join(tmp, "README.md"), "w") as f:
            f.write(card)
        if extra is not None:
            extra(tmp)
    return out
