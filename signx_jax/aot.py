"""Compile a config's train step ahead of time for a TPU topology (README "Design").

Before anyone pays for a pod: on a CPU machine with libtpu (see
:func:`libtpu_path`), build the *abstract* train state (``nnx.eval_shape`` /
``jax.eval_shape``: no parameter is allocated), give it the rule-table
shardings on a mesh over the topology's TPU devices
(``jax.experimental.topologies``), lower the very step the ``Trainer`` jits
(``Trainer._step``, state donated) and compile it with the TPU compiler.
Reports per-chip memory (arguments, outputs, temporaries) against the chip's
HBM, FLOPs per step, XLA's estimated step time (``optimal_seconds``; where
XLA gives none, e.g. around scans, the roofline max(FLOPs / peak, bytes / HBM
bandwidth) of one chip's program, marked "roofline") and the implied MFU::

    python -m signx_jax.aot --stage cslr --size base --topology v5e:2x2
    python -m signx_jax.aot --stage pose2gloss --size ladder3 --topology v5e:4x4 \
        --mesh data=4,fsdp=4,tensor=1
    python -m signx_jax.aot --all            # every stage x rung of configs/ladder.py

libtpu stays out of the core install: with it importable, every JAX process
probes for a TPU at start-up. ``bash launch/local.sh test`` installs
``launch/requirements-tpu.txt`` into ``<venv>/.libtpu`` (``pip --target``, not
importable), where this module finds it; ``TPU_LIBRARY_PATH`` or a pip-installed
``libtpu`` work too. Only the TPU *compiler* is used: JAX itself runs on CPU.

A config that does not fit raises :class:`DoesNotFit` naming the config, the
topology and the bytes: before compiling if the ``signx_jax/memory.py``
estimate of parameters + gradients + Adam already exceeds HBM, else after
compiling from XLA's memory analysis (``--all`` reports it and goes on).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from signx_jax import memory, schema
from signx_jax import sharding as shd
from signx_jax.models.summary import count_params
from signx_jax.train import tasks as tasks_lib
from signx_jax.train.loop import Trainer, _state_shardings
from signx_jax.train.optimizers import make_optimizer
from signx_jax.train.state import TrainState

# Dense bf16 peak and HBM bandwidth per chip (Cloud TPU system architecture pages).
PEAK_BF16_FLOPS = {"v4": 275e12, "v5e": 197e12, "v5p": 459e12, "v6e": 918e12}
HBM_BYTES_PER_S = {"v4": 1.2e12, "v5e": 0.819e12, "v5p": 2.765e12, "v6e": 1.64e12}
AOT_VOCAB_SIZE = 1124  # PHOENIX-2014T glosses (configs/models.py summary vocab)


class DoesNotFit(RuntimeError):
    """The compiled step needs more memory per chip than the chip has."""


def chip_of(topology: str) -> str:
    """``"v5e:2x2"`` -> ``"v5e"`` (the key of HBM and peak tables)."""
    chip = topology.split(":")[0].lower()
    if chip not in PEAK_BF16_FLOPS:
        raise ValueError(
            f"aot: unknown TPU generation in {topology!r}; known {sorted(PEAK_BF16_FLOPS)}"
        )
    return chip


# Where ``bash launch/local.sh test`` puts libtpu: ``pip install --target`` into
# the venv (``sys.prefix``), outside site-packages so no other process sees it.
SIDE_DIR = ".libtpu"


def libtpu_path() -> str | None:
    """libtpu.so for the TPU compiler, or None: ``TPU_LIBRARY_PATH``, an
    installed ``libtpu`` package (found, not imported), or ``<venv>/.libtpu``."""
    candidates = [os.environ.get("TPU_LIBRARY_PATH")]
    spec = importlib.util.find_spec("libtpu")
    if spec is not None and spec.origin:
        candidates.append(os.path.join(os.path.dirname(spec.origin), "libtpu.so"))
    candidates.append(os.path.join(sys.prefix, SIDE_DIR, "libtpu", "libtpu.so"))
    return next((c for c in candidates if c and os.path.isfile(c)), None)


def libtpu_available() -> bool:
    return libtpu_path() is not None


def tpu_devices(topology: str) -> list[Any]:
    """The TPU devices of ``topology`` (needs libtpu; none of them is attached)."""
    from jax.experimental import topologies

    path = libtpu_path()
    if path is None:
        raise RuntimeError(
            "aot: libtpu not found; pip install -r launch/requirements-tpu.txt (or run "
            "`bash launch/local.sh test` once, which puts it in <venv>/.libtpu)"
        )
    # jax loads the TPU compiler plugin from here (jax/_src/cloud_tpu_init.py).
    os.environ["TPU_LIBRARY_PATH"] = path
    # A second process (another compile, a test) must not fail on libtpu's lock:
    # nothing here touches a real chip.
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    return list(topologies.get_topology_desc(topology_name=topology, platform="tpu").devices)


def make_task(cfg: ml_collections.ConfigDict, vocab_size: int = AOT_VOCAB_SIZE):
    return {
        "pose2gloss": tasks_lib.Pose2GlossTask,
        "video2pose": tasks_lib.Video2PoseTask,
        "cslr": tasks_lib.CSLRTask,
    }[cfg.stage](cfg, vocab_size)


@contextlib.contextmanager
def _cheap_tracer_attribute_errors():
    """jax 0.10's ``Tracer.sharding`` raises an AttributeError whose message walks
    every equation traced so far; flax NNX probes it (``getattr(v, "sharding",
    None)``) on each Variable assignment, so ``nnx.eval_shape`` of a model is
    quadratic in its size (jax-ml/jax PR 40041): 2/3 of building CSLR base's
    abstract state, 1/4 of tracing its step. The message is swallowed by
    ``getattr`` anyway: skip it."""
    try:
        from jax._src.interpreters import partial_eval as pe

        original = pe.DynamicJaxprTracer._origin_msg
    except (ImportError, AttributeError):  # a jax without it: nothing to skip
        yield
        return
    pe.DynamicJaxprTracer._origin_msg = lambda self: ""
    try:
        yield
    finally:
        pe.DynamicJaxprTracer._origin_msg = original


def abstract_trainer(cfg: ml_collections.ConfigDict, task, mesh: jax.sharding.Mesh) -> Trainer:
    """A ``Trainer`` whose state is ShapeDtypeStructs with shardings: nothing allocated.

    Sets the attributes ``Trainer._step`` reads (cfg, task, mesh, tx, schedule,
    graphdef) exactly as ``Trainer.__init__`` does, so what compiles here is
    the step that trains; ``state`` holds ShapeDtypeStructs for ``.lower``.
    """
    trainer = Trainer.__new__(Trainer)
    trainer.cfg, trainer.task, trainer.mesh = cfg, task, mesh
    trainer.tx, trainer.schedule = make_optimizer(cfg.optim, cfg.train.total_steps)
    # Outside the mesh context: nnx.eval_shape would read the logical axis names
    # as mesh axes; the rule table maps them below.
    with _cheap_tracer_attribute_errors():
        model = nnx.eval_shape(lambda: task.build_model(nnx.Rngs(cfg.seed)))
    trainer.graphdef, params, rest = nnx.split(model, task.trainable, ...)
    abstract = jax.eval_shape(
        lambda p, r: TrainState.create(p, r, trainer.tx.init(p), task.init_aux()), params, rest
    )
    trainer.state_sharding = _state_shardings(abstract, trainer.tx, mesh)
    trainer.state = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        abstract,
        trainer.state_sharding,
    )
    trainer.replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    trainer.num_params = count_params(params)
    return trainer


def batch_spec(cfg: ml_collections.ConfigDict, task, mesh) -> dict[str, jax.ShapeDtypeStruct]:
    """One global train batch (keys of ``signx_jax/data/pipeline.py``) at the
    longest bucket (or the training window), sharded over the batch axes."""
    b, n_lab = cfg.data.batch_size, cfg.data.max_label_len
    t = cfg.data.get("train_window") or max(cfg.data.buckets)
    shapes: dict[str, tuple[tuple[int, ...], Any]] = {
        "frame_mask": ((b, t), jnp.bool_),
        "lengths": ((b,), jnp.int32),
        "labels": ((b, n_lab), jnp.int32),
        "label_lengths": ((b,), jnp.int32),
        "gloss_spans": ((b, n_lab, 2), jnp.int32),
        "valid": ((b,), jnp.bool_),
        "index": ((b,), jnp.int32),
    }
    if "poses" in task.features:
        shapes["presence"] = ((b, t, len(schema.STREAMS)), jnp.bool_)
        shapes["poses"] = ((b, t, schema.POSE_DIM), jnp.float32)
    if "rgb" in task.features:
        hw = cfg.model.image_size
        shapes["rgb"] = ((b, t, hw, hw, 3), jnp.uint8)
    if "latent" in task.features:
        shapes["latent"] = ((b, t, cfg.model.latent_dim), jnp.float32)
    n_batch = shd.batch_rows(mesh)
    if b % n_batch:
        raise ValueError(f"aot: batch size {b} is not divisible by data*fsdp = {n_batch}")
    sharding = shd.batch_sharding(mesh)
    return {k: jax.ShapeDtypeStruct(s, d, sharding=sharding) for k, (s, d) in shapes.items()}


@dataclasses.dataclass
class AotReport:
    name: str
    topology: str
    mesh: dict[str, int]
    num_params: int
    global_batch: int
    frames: int
    argument_bytes: int
    output_bytes: int
    alias_bytes: int
    temp_bytes: int
    hbm_bytes: int
    flops_per_step: float  # whole step, all chips (unpartitioned HLO)
    flops_per_chip: float  # the partitioned program one chip runs
    est_step_seconds: float  # XLA's optimal_seconds for one chip's program, else roofline
    est_source: str  # "xla" or "roofline" (XLA gives no estimate, e.g. for scans)
    compile_seconds: float  # wall clock of lower + compile
    compile_cpu_seconds: float  # CPU time of this process over lower + compile
    estimate_bytes: float  # signx_jax/memory.py estimate (state only), per chip
    exec_time_effort: float = 0.0  # XLA's exec_time_optimization_effort (0: default)

    @property
    def chips(self) -> int:
        return math.prod(self.mesh.values())

    @property
    def total_bytes(self) -> int:
        # Donated state: outputs alias arguments, so count them once.
        return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes

    @property
    def mfu(self) -> float:
        peak = PEAK_BF16_FLOPS[chip_of(self.topology)]
        return self.flops_per_step / (self.est_step_seconds * self.chips * peak)

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.hbm_bytes

    def to_dict(self) -> dict[str, Any]:
        """The fields plus the derived totals (what ``--json`` writes)."""
        return {
            **dataclasses.asdict(self),
            "chips": self.chips,
            "total_bytes": self.total_bytes,
            "mfu": self.mfu,
            "fits": self.fits,
        }

    def row(self) -> str:
        g = memory.GIB
        mesh = "x".join(str(self.mesh[a]) for a in shd.MESH_AXES)
        effort = f" (effort {self.exec_time_effort:g})" if self.exec_time_effort else ""
        return (
            f"| {self.name}{effort} "
            f"| {self.topology} | {mesh} | {self.num_params / 1e6:.1f}M "
            f"| {self.global_batch}x{self.frames} | {self.argument_bytes / g:.2f} "
            f"| {self.output_bytes / g:.2f} | {self.temp_bytes / g:.2f} "
            f"| {self.total_bytes / g:.2f} / {self.hbm_bytes / g:.0f} "
            f"| {self.flops_per_step / 1e12:.2f} | {1e3 * self.est_step_seconds:.1f}"
            f"{'' if self.est_source == 'xla' else ' (roofline)'} "
            f"| {100 * self.mfu:.1f} | {'yes' if self.fits else 'NO'} "
            f"| {self.compile_seconds:.0f} / {self.compile_cpu_seconds:.0f} |"
        )


TABLE_HEADER = (
    "| config | topology | mesh d x f x t | params | batch x T | args GiB/chip | out GiB/chip "
    "| temp GiB/chip | total / HBM GiB | TFLOP/step | est. ms/step | est. MFU % | fits "
    "| compile s wall / CPU |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _cost(obj) -> dict:
    cost = obj.cost_analysis()
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else {}
    return dict(cost or {})


def global_flops(cfg: ml_collections.ConfigDict, task, lowered) -> float:
    """FLOPs of the whole step (all chips): the unpartitioned HLO's cost analysis.

    The TPU compile-only client gives none for a lowering, so XLA's CPU cost
    analysis counts the lowered module (the very program compiled, before SPMD
    partitioning); should that private route fail, the step is lowered again
    (no compile) on one CPU device and counted there.
    """
    flops = _cost(lowered).get("flops")
    if flops is not None and flops > 0:
        return float(flops)
    try:
        from jax._src import xla_bridge
        from jax._src.lib import _jax

        module = lowered._lowering.hlo().as_hlo_module()
        cost = _jax.hlo_module_cost_analysis(xla_bridge.get_backend("cpu"), module)
        if cost.get("flops", 0) > 0:
            return float(cost["flops"])
    except Exception:  # noqa: BLE001 - private jax API: fall back to the public route
        pass
    cpu_mesh = shd.make_mesh(1, 1, 1, devices=jax.devices("cpu")[:1])
    trainer = abstract_trainer(cfg, task, cpu_mesh)
    batch = batch_spec(cfg, task, cpu_mesh)
    with jax.set_mesh(cpu_mesh), _cheap_tracer_attribute_errors():
        cpu_lowered = jax.jit(trainer._step, donate_argnums=(0,)).lower(trainer.state, batch)
    return float(_cost(cpu_lowered).get("flops", float("nan")))


def state_estimate(num_params: int, mesh: dict[str, int], cfg) -> memory.MemoryEstimate:
    """The back-of-the-envelope per-chip bytes of params + grads + Adam moments."""
    return memory.per_device_memory(
        num_params,
        mesh,
        optimizer="adam",
        param_bytes=4 if cfg.model.param_dtype == "float32" else 2,
        grad_accumulation=cfg.optim.get("grad_accum_steps", 1) > 1,
    )


def compile_train_step(
    cfg: ml_collections.ConfigDict,
    topology: str,
    mesh_sizes: dict[str, int] | None = None,
    *,
    name: str | None = None,
    check_fit: bool = True,
    verbose: bool = True,
    devices: list[Any] | None = None,
    exec_time_effort: float = 0.0,
) -> AotReport:
    """Lower and compile ``cfg``'s train step for ``topology``; see the module doc.

    ``devices`` replaces the topology's TPU devices (e.g. CPU devices, to test
    the fit check that runs before compiling without libtpu).
    ``exec_time_effort`` in [-1, 1] is XLA's ``exec_time_optimization_effort``:
    -1 optimises the step's speed less and compiles base configs 2-4x faster
    (measured on 2 busy cores: Video2Pose base 260 -> 50-90 CPU-s, Pose2Gloss
    base 180 -> 95; CSLR base, its scans, least: about 1.3x). Memory fitting
    keeps its default effort: arguments are the same, temporaries came out up
    to 20 % smaller, so check a config near HBM at 0, which is what training
    compiles."""
    chip = chip_of(topology)
    devices = devices if devices is not None else tpu_devices(topology)
    sizes = dict(mesh_sizes or cfg.mesh)
    mesh = shd.make_mesh(**sizes, devices=devices)
    sizes = {a: int(mesh.shape[a]) for a in shd.MESH_AXES}
    name = name or f"{cfg.stage}/{cfg.model.size}"
    task = make_task(cfg)
    trainer = abstract_trainer(cfg, task, mesh)
    est = state_estimate(trainer.num_params, sizes, cfg)
    if verbose:
        print(f"[aot] {name}: {trainer.num_params / 1e6:.1f}M params on {topology} mesh {sizes}")
        print("[aot] estimate before compiling (params/grads/optimizer, per chip):")
        print(est.summary(chip))
    if check_fit and est.total > memory.HBM_BYTES[chip]:
        raise DoesNotFit(
            f"aot: {name} does not fit on {topology} with mesh {sizes}: parameters, gradients "
            f"and Adam moments alone need {est.total / memory.GIB:.2f} GiB per chip, a {chip} "
            f"chip has {memory.HBM_BYTES[chip] / memory.GIB:.0f} GiB; shard more (fsdp/tensor) "
            "or use a larger topology (not compiled)"
        )
    batch = batch_spec(cfg, task, mesh)
    t0, c0 = time.perf_counter(), time.process_time()
    with jax.set_mesh(mesh):
        with _cheap_tracer_attribute_errors():
            lowered = jax.jit(trainer._step, donate_argnums=(0,)).lower(trainer.state, batch)
        options = {"exec_time_optimization_effort": exec_time_effort} if exec_time_effort else {}
        compiled = lowered.compile(compiler_options=options or None)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    mem, cost = compiled.memory_analysis(), _cost(compiled)
    flops_chip = float(cost.get("flops", float("nan")))
    seconds_est, source = float(cost.get("optimal_seconds", -1.0)), "xla"
    if not seconds_est > 0:  # XLA has no estimate (while loops): a roofline bound
        bytes_chip = float(cost.get("bytes accessed", 0.0))
        seconds_est = max(flops_chip / PEAK_BF16_FLOPS[chip], bytes_chip / HBM_BYTES_PER_S[chip])
        source = "roofline"
    report = AotReport(
        name=name,
        topology=topology,
        mesh=sizes,
        num_params=trainer.num_params,
        global_batch=cfg.data.batch_size,
        frames=batch["frame_mask"].shape[1],
        argument_bytes=int(mem.argument_size_in_bytes),
        output_bytes=int(mem.output_size_in_bytes),
        alias_bytes=int(mem.alias_size_in_bytes),
        temp_bytes=int(mem.temp_size_in_bytes),
        hbm_bytes=memory.HBM_BYTES[chip],
        flops_per_step=global_flops(cfg, task, lowered),
        flops_per_chip=flops_chip,
        est_step_seconds=seconds_est,
        est_source=source,
        compile_seconds=seconds,
        compile_cpu_seconds=cpu_seconds,
        estimate_bytes=est.total,
        exec_time_effort=exec_time_effort,
    )
    if verbose:
        print(TABLE_HEADER)
        print(report.row())
        print(f"[aot] compiled in {seconds:.1f} s ({cpu_seconds:.1f} CPU-s)")
    if check_fit and not report.fits:
        g = memory.GIB
        raise DoesNotFit(
            f"aot: {name} does not fit on {topology} with mesh {sizes}: the compiled step needs "
            f"{report.total_bytes / g:.2f} GiB per chip "
            f"(arguments {report.argument_bytes / g:.2f}, "
            f"temporaries {report.temp_bytes / g:.2f}) but a {chip} chip has "
            f"{report.hbm_bytes / g:.0f} GiB; shard more (fsdp/tensor), shrink the batch, "
            "set model.remat, or use a larger topology"
        )
    return report


def parse_mesh(text: str | None) -> dict[str, int] | None:
    """``"data=2,fsdp=2,tensor=1"`` -> dict (missing axes are 1; data may be -1)."""
    if not text:
        return None
    sizes = {"data": 1, "fsdp": 1, "tensor": 1}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip() not in sizes:
            raise ValueError(f"aot: --mesh axis {key!r} is not one of {tuple(sizes)}")
        sizes[key.strip()] = int(value)
    return sizes


def stage_config(
    stage: str, size: str, *, variant: str = "signx", batch_size: int = 0, frames: int = 0
) -> ml_collections.ConfigDict:
    """The config ``--stage/--size`` compile: a ladder rung as ``configs/ladder.py``
    plans it, else ``train_config(stage, size)`` with the ladder's TPU settings
    (bfloat16 compute; video2pose on 32-frame windows; CSLR buckets up to 256).
    ``frames`` sets the sequence length T of the batch (0: the config's longest)."""
    from configs import ladder
    from configs.common import train_config

    if size in ladder.PLAN:
        cfg = ladder.get_config(f"{stage},{size}")
    else:
        cfg = ladder.tpu_settings(train_config(stage, size, variant=variant))
    if batch_size:
        cfg.data.batch_size = batch_size
    if frames:
        if cfg.data.train_window:
            cfg.data.train_window = frames
        else:
            cfg.data.buckets = (frames,)
    return cfg


def _write_json(path: str, reports: list[AotReport], failures: list[str]) -> None:
    if path:
        with open(path, "w") as f:
            json.dump({"reports": [r.to_dict() for r in reports], "failures": failures}, f,
                      indent=1)  # fmt: skip


def _single(args) -> int:
    from configs import ladder

    cfg = stage_config(
        args.stage, args.size, variant=args.variant, batch_size=args.batch_size,
        frames=args.frames,
    )  # fmt: skip
    topology = args.topology or cfg.get("topology") or "v5e:2x2"
    mesh = parse_mesh(args.mesh) or (
        {"data": -1, "fsdp": 1, "tensor": 1} if args.size not in ladder.PLAN else None
    )
    try:
        report = compile_train_step(cfg, topology, mesh, exec_time_effort=args.exec_time_effort)
    except DoesNotFit as e:
        print(e, file=sys.stderr)
        _write_json(args.json, [], [str(e)])
        return 1
    _write_json(args.json, [report], [])
    return 0


def _all(args) -> int:
    """Rung by rung (every stage of the smallest rung first), so that a run cut
    short still covers all stages at the sizes it reached."""
    from configs import ladder

    reports, failures = [], []
    for rung in args.rungs.split(",") if args.rungs else ladder.PLAN:
        for stage in args.stages.split(","):
            cfg = ladder.get_config(f"{stage},{rung}")
            try:
                report = compile_train_step(
                    cfg, cfg.topology, check_fit=False, verbose=False,
                    exec_time_effort=args.exec_time_effort,
                )  # fmt: skip
            except Exception as e:  # noqa: BLE001 - report every config, then fail
                failures.append(f"{stage}/{rung}: {type(e).__name__}: {e}")
                print(f"[aot] {stage}/{rung} FAILED: {e}", file=sys.stderr, flush=True)
                _write_json(args.json, reports, failures)
                continue
            reports.append(report)
            print(f"[aot] {report.row()}", flush=True)
            if not report.fits:
                failures.append(f"{stage}/{rung}: does not fit on {cfg.topology}")
            _write_json(args.json, reports, failures)
    print(TABLE_HEADER)
    print("\n".join(r.row() for r in reports))
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", default="cslr", choices=("pose2gloss", "video2pose", "cslr"))
    p.add_argument("--size", default="base", help="tiny|small|base or a configs/ladder.py rung")
    p.add_argument("--variant", default="signx")
    p.add_argument("--topology", default=None, help="e.g. v5e:2x2, v5e:4x4, v5p:2x2x4, v6e:2x2")
    p.add_argument("--mesh", default=None, help="data=..,fsdp=..,tensor=..")
    p.add_argument("--batch_size", type=int, default=0, help="global batch (default: config's)")
    p.add_argument("--frames", type=int, default=0, help="frames per clip T (default: config's)")
    p.add_argument(
        "--exec_time_effort", type=float, default=0.0,
        help="XLA exec_time_optimization_effort in [-1, 1]; -1 compiles 2-4x faster",
    )  # fmt: skip
    p.add_argument("--json", default="", help="also write the report(s) to this JSON file")
    p.add_argument("--all", action="store_true", help="every stage x rung in configs/ladder.py")
    p.add_argument("--stages", default="pose2gloss,video2pose,cslr", help="stages for --all")
    p.add_argument("--rungs", default="", help="rungs for --all (default: every rung)")
    args = p.parse_args(argv)
    if not libtpu_available():
        print(
            "aot: libtpu not found: pip install -r launch/requirements-tpu.txt, or run "
            "`bash launch/local.sh test` once (installs it into <venv>/.libtpu)",
            file=sys.stderr,
        )
        return 2
    if "JAX_PLATFORMS" not in os.environ:
        # Only the TPU compiler is needed; with no chip attached, don't probe for one.
        jax.config.update("jax_platforms", "cpu")
    # A compile-only TPU executable is written to the persistent cache but never
    # read back (measured): writing it only costs time.
    jax.config.update("jax_enable_compilation_cache", False)
    return _all(args) if args.all else _single(args)


if __name__ == "__main__":
    sys.exit(main())
