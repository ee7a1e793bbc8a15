"""configs/models.py presets and ablation args, output shapes at every size, mixed precision,
the summary CLI."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from configs import models as mc
from configs.common import train_config
from signx_jax.models import CSLR, Pose2Gloss, Video2Pose
from signx_jax.models import __main__ as models_cli
from signx_jax.models.summary import load_config, stage_table
from signx_jax.schema import POSE_DIM, STREAM_NAMES
from tests.models import hand_counts


def test_base_is_the_paper():
    c = mc.cslr_config("base")
    assert (c.latent_dim, c.temporal_width, c.lstm_hidden, c.lstm_layers) == (2048, 1024, 512, 2)
    assert (c.width, c.enc_layers, c.dec_layers, c.mlp, c.heads) == (256, 6, 6, 4096, 4)
    assert tuple(c.conv_kernels) == (3, 5, 7) and tuple(c.teacher_blocks) == (3, 4, 6, 3)
    assert (c.dropout_attn, c.dropout_act, c.dropout_res) == (0.3, 0.5, 0.4)
    assert mc.pose2gloss_config("base").latent_dim == 2048


@pytest.mark.parametrize("size", [*mc.SIZES, *mc.LADDER])
def test_latent_dims_agree_across_stages(size):
    assert mc.pose2gloss_config(size).latent_dim == mc.cslr_config(size).latent_dim


def test_variants_and_errors():
    assert len(mc.LADDER) >= 5
    vac = mc.cslr_config("base", "vac_baseline")
    assert tuple(vac.conv_kernels) == (5,) and vac.conv_padding == "valid"
    assert not (vac.use_transformer or vac.use_distillation or vac.use_decoder)
    assert not mc.cslr_config("tiny", "no_pruning").use_pruning
    assert tuple(mc.cslr_config("tiny", "single_scale_conv").conv_kernels) == (5,)
    with pytest.raises(ValueError, match="unknown size"):
        mc.cslr_config("huge")
    with pytest.raises(ValueError, match="unknown CSLR variant"):
        mc.cslr_config("tiny", "nope")


def test_summary_rows_add_up():
    rows = stage_table("cslr", "tiny", frames=16, tokens=4, vocab=12)
    total = rows[-1]
    assert total[0] == "total" and total[2] > 0
    assert sum(r[1] for r in rows[:-1]) == total[1]


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_config_args_select_ablations():
    """Every stage config file takes ``size[,ablation...]``: CSLR variants, dropped streams."""
    cfg = load_config(f"{CONFIGS}/phoenix2014t_cslr.py:base,vac_baseline")
    assert cfg.model.to_dict() == mc.cslr_config("base", "vac_baseline").to_dict()
    assert cfg.decode.method == "ctc_beam" and not cfg.pruning.enabled
    for variant in mc.CSLR_VARIANTS:
        model = train_config("cslr", f"tiny,{variant}").model
        assert model.to_dict() == mc.cslr_config("tiny", variant).to_dict()
    p2g = load_config(f"{CONFIGS}/phoenix2014t_pose2gloss.py:tiny,no_sapiens,no_primedepth")
    assert p2g.model.streams == ("dwpose", "mediapipe", "smplerx") and p2g.model.size == "tiny"
    for name in STREAM_NAMES:
        streams = train_config("pose2gloss", f"small,no_{name}").model.streams
        assert name not in streams and len(streams) == len(STREAM_NAMES) - 1
    v2p = train_config("video2pose", "tiny,no_smplerx")  # its frozen stage 1 lacks the stream
    assert "smplerx" not in v2p.stage1_model.streams
    assert v2p.model.to_dict() == mc.video2pose_config("tiny").to_dict()
    assert mc.get_config("pose2gloss,base,no_dwpose").streams == STREAM_NAMES[1:]
    assert (
        mc.get_config("cslr,base,no_pruning").to_dict()
        == mc.cslr_config("base", "no_pruning").to_dict()
    )
    for stage, arg in [
        ("cslr", "tiny,no_sapiens"),  # stage 3 reads latents: no streams to drop
        ("pose2gloss", "tiny,vac_baseline"),
        ("cslr", "tiny,vac_baseline,no_pruning"),
        ("cslr", "tiny,nonsense"),
        ("pose2gloss", "tiny," + ",".join(mc.STREAM_ABLATIONS)),
    ]:
        with pytest.raises(ValueError):
            train_config(stage, arg)


def _printed_tables(text: str) -> dict[str, dict[str, tuple[int, str]]]:
    """summary output -> {stage: {part: (params, GFLOPs column)}}."""
    tables: dict[str, dict[str, tuple[int, str]]] = {}
    for line in text.splitlines():
        if head := re.fullmatch(r"== (\w+) \(.*\) ==", line):
            table = tables.setdefault(head[1], {})
        elif row := re.fullmatch(r"(.+?)\s+([\d,]+)\s+(\S+)", line):
            table[row[1]] = (int(row[2].replace(",", "")), row[3])
    return tables


# summary row -> part of tests/models/hand_counts.py
_HAND_PARTS = {
    "pose2gloss": {
        "fusion (E_i, stream attention, PadMatch)": "fusion",
        "vit (latent encoder)": "vit",
        "decoder (CodeBook)": "decoder",
        "contrastive projections": "contrastive",
        "total": "total",
    },
    "video2pose": {
        "spatial ViT (patches, cls, pos)": "spatial",
        "temporal attention": "temporal",
        "stream heads": "heads",
        "total": "total",
    },
    "cslr": {
        "feature compilation": "compiler",
        "student MLP": "student",
        "teacher ResNet-34": "teacher",
        "TemporalConv": "conv",
        "BiLSTM": "lstm",
        "transformer encoder (+proj)": "encoder",
        "CTC head": "ctc",
        "transformer decoder": "decoder",
        "total": "total",
    },
}


def test_summary_cli_prints_the_hand_counted_base_parameters(capsys):
    """``python -m signx_jax.models summary``: per-module parameters of every stage equal
    the counts worked out by hand from the ``base`` dims; FLOPs come with every computing row."""
    vocab = 1124
    models_cli.main(["summary", "--size", "base", "--vocab", str(vocab), "--frames", "16"])
    tables = _printed_tables(capsys.readouterr().out)
    hand = {
        "pose2gloss": hand_counts.pose2gloss_base(vocab),
        "video2pose": hand_counts.video2pose_base(),
        "cslr": hand_counts.cslr_base(vocab),
    }
    assert set(tables) == set(_HAND_PARTS)
    for stage, parts in _HAND_PARTS.items():
        assert set(tables[stage]) == set(parts), stage
        for row, part in parts.items():
            assert tables[stage][row][0] == hand[stage][part], (stage, row)
        assert float(tables[stage]["total"][1]) > 0, stage
    # Every CSLR part computes something (cost-analysis GFLOPs, not "-").
    assert all(float(tables["cslr"][row][1]) >= 0 for row in _HAND_PARTS["cslr"])


@pytest.mark.parametrize("size", [*mc.SIZES, min(mc.LADDER), max(mc.LADDER)])
def test_output_shapes_every_size(size):
    """Every stage at every size (shapes only: nnx.eval_shape). The ladder's rungs come
    from one formula (configs/models.py): its smallest and largest rung stand for it."""
    vocab, b, t = 11, 2, 12
    poses, mask = jnp.zeros((b, t, POSE_DIM)), jnp.ones((b, t), bool)
    presence, tokens = jnp.ones((b, t, len(STREAM_NAMES)), bool), jnp.zeros((b, 3), jnp.int32)
    p2g_cfg = mc.pose2gloss_config(size)
    p2g = nnx.eval_shape(lambda: Pose2Gloss(p2g_cfg, vocab, rngs=nnx.Rngs(0)))
    z, logits = nnx.eval_shape(lambda m: m(poses, presence, mask, tokens, deterministic=True), p2g)
    assert z.shape == (b, t, p2g_cfg.latent_dim) and logits.shape == (b, 3, vocab)
    v2p_cfg = mc.video2pose_config(size)
    v2p = nnx.eval_shape(lambda: Video2Pose(v2p_cfg, rngs=nnx.Rngs(0)))
    rgb = jnp.zeros((b, 2, v2p_cfg.image_size, v2p_cfg.image_size, 3), jnp.uint8)
    poses_hat = nnx.eval_shape(lambda m: m(rgb, mask[:, :2], deterministic=True), v2p)
    assert poses_hat.shape == (b, 2, POSE_DIM)
    cslr_cfg = mc.cslr_config(size)
    cslr = nnx.eval_shape(lambda: CSLR(cslr_cfg, vocab, rngs=nnx.Rngs(0)))
    latent = jnp.zeros(z.shape)
    out = nnx.eval_shape(lambda m: m(latent, mask, None, tokens, deterministic=True), cslr)
    assert out["ctc_logits"].shape == (b, t // 4, vocab) and out["dec_logits"].shape == logits.shape
    assert out["teacher_logits"].shape == out["student_logits"].shape == (b, t, vocab)


def test_mixed_precision_every_stage():
    """``dtype = bfloat16``: params stay float32, each stage computes in bfloat16, and the
    outputs the losses read (z_latent, poses, logits) are float32."""
    b, t, vocab = 2, 8, 11
    mask, tokens = jnp.ones((b, t), bool), jnp.zeros((b, 3), jnp.int32)
    cfgs = {stage: mc.get_config(f"{stage},tiny") for stage in ("pose2gloss", "video2pose", "cslr")}
    for cfg in cfgs.values():
        cfg.dtype = "bfloat16"
    p2g = nnx.eval_shape(lambda: Pose2Gloss(cfgs["pose2gloss"], vocab, rngs=nnx.Rngs(0)))
    poses, presence = jnp.zeros((b, t, POSE_DIM)), jnp.ones((b, t, len(STREAM_NAMES)), bool)
    fused = nnx.eval_shape(lambda m: m.fusion(poses, presence, deterministic=True), p2g)
    z, p_logits = nnx.eval_shape(
        lambda m: m(poses, presence, mask, tokens, deterministic=True), p2g
    )
    size = cfgs["video2pose"].image_size
    v2p = nnx.eval_shape(lambda: Video2Pose(cfgs["video2pose"], rngs=nnx.Rngs(0)))
    rgb = jnp.zeros((b, t, size, size, 3), jnp.uint8)
    frames = nnx.eval_shape(lambda m: m.frame_features(rgb, deterministic=True), v2p)
    poses_hat = nnx.eval_shape(lambda m: m(rgb, mask, deterministic=True), v2p)
    cslr = nnx.eval_shape(lambda: CSLR(cfgs["cslr"], vocab, rngs=nnx.Rngs(0)))
    latent, lengths = jnp.zeros(z.shape), jnp.full((b,), t)
    conv, _ = nnx.eval_shape(
        lambda m: m.conv(latent.astype(jnp.bfloat16), lengths, deterministic=True), cslr
    )
    out = nnx.eval_shape(lambda m: m(latent, mask, None, tokens, deterministic=True), cslr)
    assert {fused.dtype, frames.dtype, conv.dtype} == {jnp.dtype(jnp.bfloat16)}
    outputs = (z, p_logits, poses_hat, out["ctc_logits"], out["dec_logits"])
    assert {x.dtype for x in outputs} == {jnp.dtype(jnp.float32)}
    for model in (p2g, v2p, cslr):
        params = jax.tree.leaves(nnx.state(model, nnx.Param))
        assert {x.dtype for x in params} == {jnp.dtype(jnp.float32)}
